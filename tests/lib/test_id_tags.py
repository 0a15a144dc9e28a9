"""eflux.lib.id_tags: the one idTag normaliser (OCPP 1.6 IdToken, CiString20Type)."""

import pytest

from eflux.lib.id_tags import normalize_id_tag


@pytest.mark.parametrize(
    "raw, expected",
    [
        (" 04:a2-5b 1c.", "04A25B1C"),
        ("alice-0001", "ALICE0001"),
        ("ABCDEFGHIJ0123456789", "ABCDEFGHIJ0123456789"),  # exactly 20
        ("#!~", "#!~"),  # printable ASCII is allowed
    ],
)
def test_it_strips_separators_and_upper_cases_in_both_modes(raw, expected):
    assert normalize_id_tag(raw, strict=True) == expected
    assert normalize_id_tag(raw, strict=False) == expected


@pytest.mark.parametrize(
    "raw, message, lenient",
    [
        ("", "empty", ""),
        (None, "empty", ""),
        (" :-. ", "empty", ""),
        ("A" * 21, "longer than 20", "A" * 20),
        ("0123456789-0123456789-X", "longer than 20", "01234567890123456789"),
        ("caf\u00e9", "printable ASCII", "CAF\u00c9"),
    ],
)
def test_strict_refuses_what_no_card_can_be_and_lenient_keeps_it(raw, message, lenient):
    with pytest.raises(ValueError, match=message):
        normalize_id_tag(raw, strict=True)
    # What a station sent is stored anyway (cut to the column), and simply matches no card.
    assert normalize_id_tag(raw, strict=False) == lenient
