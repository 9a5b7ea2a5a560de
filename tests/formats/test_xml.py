"""xml: Jackson-style folding and refusal of DTDs and entities."""

from __future__ import annotations

import pytest

from naftiko_runtime.formats import convert

from .helpers import USERS, decode_error, fixture


def test_xml_drops_the_root_and_folds_repeated_siblings_into_an_array() -> None:
    body = b"<vessels><vessel><imo>1</imo></vessel><vessel><imo>2</imo></vessel></vessels>"
    assert convert(body, "xml") == {"vessel": [{"imo": "1"}, {"imo": "2"}]}


def test_xml_keeps_a_single_child_as_an_object_and_numbers_as_text() -> None:
    assert convert(b"<r><user><id>42</id><ok>true</ok></user></r>", "xml") == {
        "user": {"id": "42", "ok": "true"}
    }


def test_xml_attributes_become_fields_and_text_goes_under_the_empty_key() -> None:
    body = b'<r><price currency="EUR">9.50</price><tag id="7"/></r>'
    assert convert(body, "xml") == {"price": {"currency": "EUR", "": "9.50"}, "tag": {"id": "7"}}


def test_xml_empty_elements_become_empty_strings() -> None:
    assert convert(b"<r><a/><b>   </b></r>", "xml") == {"a": "", "b": ""}


def test_xml_namespaces_are_stripped_from_tags_and_attributes() -> None:
    body = (
        b'<s:Envelope xmlns:s="urn:s" xmlns:x="urn:x"><s:Body x:kind="k"><x:v>1</x:v></s:Body></s:Envelope>'
    )
    assert convert(body, "xml") == {"Body": {"kind": "k", "v": "1"}}


def test_xml_non_adjacent_repeats_are_merged_into_one_array() -> None:
    assert convert(b"<r><a>1</a><b>x</b><a>2</a></r>", "xml") == {"a": ["1", "2"], "b": "x"}


def test_xml_text_only_root_is_its_text() -> None:
    assert convert(b"<message>hello</message>", "xml") == "hello"


def test_an_empty_xml_body_is_none() -> None:
    assert convert(b"", "xml") is None


def _billion_laughs() -> bytes:
    """Ten levels of ten references each: a billion "lol"s once expanded."""
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">' for level in range(1, 10)
    ]
    return f'<?xml version="1.0"?><!DOCTYPE r [{"".join(entities)}]><r>&lol9;</r>'.encode()


@pytest.mark.parametrize(
    "body",
    [
        _billion_laughs(),
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><r>&a;</r>',
        b'<!DOCTYPE r [<!ENTITY secret SYSTEM "file:///etc/passwd">]><r>&secret;</r>',
        b'<!DOCTYPE r SYSTEM "http://example.com/evil.dtd"><r/>',
    ],
    ids=["billion-laughs", "internal-entity", "external-entity", "external-dtd"],
)
def test_xml_with_a_dtd_or_entity_declaration_is_refused(body: bytes) -> None:
    message = decode_error(body, "xml")
    assert "xml" in message and "not allowed" in message
    assert "passwd" not in message and "example.com" not in message


def test_xml_dtd_lookalikes_in_comments_and_cdata_are_just_text() -> None:
    body = b"<r><!-- <!DOCTYPE x> --><a><![CDATA[<!ENTITY y>]]></a></r>"
    assert convert(body, "xml") == {"a": "<!ENTITY y>"}


@pytest.mark.parametrize("body", [b"<r><a></r>", b'<r><!ENTITY x "y"></r>', b"<r>&undeclared;</r>"])
def test_malformed_xml_raises_a_decode_error_with_the_position(body: bytes) -> None:
    message = decode_error(body, "xml")
    assert "xml" in message and "line 1" in message


def test_xml_encoding_declaration_is_honoured_without_a_charset() -> None:
    body = '<?xml version="1.0" encoding="ISO-8859-1"?><r><city>Málaga</city></r>'.encode("latin-1")
    assert convert(body, "xml") == {"city": "Málaga"}


def test_xml_content_type_charset_overrides_the_declaration() -> None:
    body = '<?xml version="1.0" encoding="UTF-8"?><r><c>ñ</c></r>'.encode("latin-1")
    assert convert(body, "xml", content_type="application/xml; charset=latin-1") == {"c": "ñ"}


def test_corpus_xml_users_fold_into_an_array_under_user() -> None:
    assert convert(fixture("sample-users.xml"), "xml", content_type="application/xml") == {"user": USERS}
