"""PDF documents from Django templates (WeasyPrint): invoices (billing), commissioning reports (stations)."""

from django.template.loader import render_to_string


def pdf_from_html(html: str) -> bytes:
    """The PDF of an HTML document (its <style> and @page rules apply)."""
    from weasyprint import HTML  # heavy import (pango via cffi): only where a PDF is made

    return HTML(string=html).write_pdf()


def pdf_from_template(template_name: str, context: dict) -> bytes:
    return pdf_from_html(render_to_string(template_name, context))
