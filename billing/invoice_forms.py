from django import forms

from billing.periods import PeriodError, parse_period, period_name


class CreditForm(forms.Form):
    reason = forms.CharField(max_length=200, label="Reason")
    rebill = forms.BooleanField(
        required=False, initial=True, label="Bill the credited items again on the next run (corrected)"
    )


class RunForm(forms.Form):
    period = forms.CharField(max_length=7, help_text="YYYY-MM, a month that has ended")
    issue = forms.BooleanField(
        required=False, initial=True, label="Issue the documents (numbers, PDFs, payouts)"
    )

    def clean_period(self):
        try:
            return period_name(*parse_period(self.cleaned_data["period"]))
        except PeriodError as exc:
            raise forms.ValidationError(str(exc)) from None
