"""Specs for leadops.intake.reading: reading CSV and JSON Lines lead files."""

from __future__ import annotations

import hashlib
import json

import pytest

from leadops.intake.reading.delimited import detect_delimiter
from leadops.intake.reading.headers import DEFAULT_ALIASES, header_key, map_headers
from leadops.intake.reading.registry import read_lead_file
from leadops.intake.reading.rows import FileRejected, RawRow
from leadops.intake.reading.text import decode_bytes, sha256_file

# --------------------------------------------------------------------------- decoding, hashing


def test_sha256_file_is_the_hash_of_the_bytes(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"email\na@acme.com\n")
    assert sha256_file(path) == hashlib.sha256(b"email\na@acme.com\n").hexdigest()


def test_decode_bytes_strips_a_utf8_bom():
    assert decode_bytes("\ufeffPrénom".encode()) == ("Prénom", "utf-8-sig")
    assert decode_bytes("Prénom".encode()) == ("Prénom", "utf-8")


def test_decode_bytes_falls_back_to_windows_1252():
    assert decode_bytes("Société – “Œuvre” €".encode("cp1252")) == ("Société – “Œuvre” €", "cp1252")


def test_decode_bytes_reads_utf16_with_bom():
    assert decode_bytes("Prénom;Nom\n".encode("utf-16")) == ("Prénom;Nom\n", "utf-16")


def test_decode_bytes_uses_latin1_for_bytes_undefined_in_cp1252():
    assert decode_bytes(b"caf\xe9 \x81") == ("café \x81", "latin-1")


def test_decode_bytes_refuses_binary_content():
    with pytest.raises(ValueError, match="not valid UTF-8 or Windows-1252 text"):
        decode_bytes(b"PK\x03\x04\x00\x00binary")


# --------------------------------------------------------------------------- delimiter


@pytest.mark.parametrize(("sample", "expected"), [
    ("email,name\na@x.fr,Jean\n", ","),
    ("Prénom;Nom;Société\nJean;Dupont;ACME, Inc.\nMarie;Curie;Radium, SA\n", ";"),
    ("email\tname\na@x.fr\tJean\n", "\t"),
    ("email|name\na@x.fr|Jean\n", "|"),
    ('"a;b",c,d\n"x;y",1,2\n', ","),
    ("email\na@x.fr\n", ","),  # one column: the default
])
def test_detect_delimiter_finds_the_separator(sample, expected):
    assert detect_delimiter(sample) == expected


# --------------------------------------------------------------------------- header mapping


def test_header_key_ignores_case_accents_spaces_and_punctuation():
    assert header_key("Adresse e-mail") == "adresseemail"
    assert header_key("  Date de Création ") == "datedecreation"
    assert header_key("first_name") == "firstname"


@pytest.mark.parametrize(("header", "field"), [
    ("E-mail", "email"), ("Email Address", "email"), ("Courriel", "email"), ("Adresse e-mail", "email"),
    ("Prénom", "first_name"), ("PRENOM", "first_name"), ("Given name", "first_name"),
    ("Nom", "last_name"), ("Nom de famille", "last_name"), ("Surname", "last_name"),
    ("Full name", "full_name"), ("Nom complet", "full_name"),
    ("Société", "company"), ("Raison sociale", "company"), ("Organisation", "company"),
    ("Intitulé de poste", "job_title"), ("Fonction", "job_title"),
    ("Tél.", "phone"), ("Téléphone", "phone"), ("Portable", "phone"),
    ("Pays", "country"), ("Site internet", "website"), ("Lead Source", "source"), ("Origine", "source"),
    ("Campagne", "campaign"), ("Date de création", "created_at"), ("Submitted at", "created_at"),
    ("Langue", "language"), ("Opt-in", "consent"), ("Consentement", "consent"),
])
def test_default_aliases_recognize_english_and_french_headers(header, field):
    assert DEFAULT_ALIASES[header_key(header)] == field


def test_two_headers_for_the_same_field_first_wins_and_the_other_is_unmapped():
    mapping, unmapped = map_headers(["Email", "E-mail", "Notes"])
    assert mapping == {"Email": "email"}
    assert unmapped == ["E-mail", "Notes"]


def test_explicit_columns_claim_fields_before_default_aliases():
    mapping, unmapped = map_headers(["Email", "Work e-mail"], {"work e-mail": "email"})
    assert mapping == {"Work e-mail": "email"}
    assert unmapped == ["Email"]


def test_explicit_columns_must_target_canonical_fields():
    with pytest.raises(ValueError, match="unknown field"):
        map_headers(["Mail"], {"Mail": "emial"})


# --------------------------------------------------------------------------- CSV files


def test_utf8_csv_with_bom_reads_header_without_bom(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_bytes("\ufeffEmail,First Name,Company\njean@acme.fr,Jean,ACME\n".encode())
    read = read_lead_file(path)
    assert read.encoding == "utf-8-sig"
    assert read.delimiter == ","
    assert read.header == ["Email", "First Name", "Company"]
    assert read.rows == [
        RawRow(2, {"email": "jean@acme.fr", "first_name": "Jean", "company": "ACME"},
               {"Email": "jean@acme.fr", "First Name": "Jean", "Company": "ACME"}),
    ]
    assert read.unmapped_columns == []


def test_french_excel_export_in_cp1252_with_semicolons(tmp_path):
    path = tmp_path / "salon-2024.csv"
    content = (
        "Prénom;Nom;Société;Courriel;Fonction;Commentaire\r\n"
        "Élodie;Lefèvre;Société Générale;elodie.lefevre@socgen.fr;Directrice financière;Très intéressée\r\n"
        "François;Nuñez;Crédit Agricole, SA; f.nunez@ca.fr ;DSI;\r\n"
    )
    path.write_bytes(content.encode("cp1252"))
    read = read_lead_file(path)
    assert (read.encoding, read.delimiter) == ("cp1252", ";")
    assert read.header == ["Prénom", "Nom", "Société", "Courriel", "Fonction", "Commentaire"]
    assert read.unmapped_columns == ["Commentaire"]
    assert [r.row_number for r in read.rows] == [2, 3]
    assert read.rows[0].fields == {
        "first_name": "Élodie", "last_name": "Lefèvre", "company": "Société Générale",
        "email": "elodie.lefevre@socgen.fr", "job_title": "Directrice financière",
    }
    second = read.rows[1]
    assert second.fields["company"] == "Crédit Agricole, SA"
    assert second.fields["email"] == "f.nunez@ca.fr"  # trimmed in fields...
    assert second.raw["Courriel"] == " f.nunez@ca.fr "  # ...kept as read in raw
    assert second.raw["Commentaire"] == ""


def test_tab_delimited_file(tmp_path):
    path = tmp_path / "export.tsv"
    path.write_text("email\tlast_name\tphone\na@acme.com\tMartin\t+33 6 12 34 56 78\n", encoding="utf-8")
    read = read_lead_file(path)
    assert read.delimiter == "\t"
    assert read.rows[0].fields == {"email": "a@acme.com", "last_name": "Martin", "phone": "+33 6 12 34 56 78"}


def test_tab_delimited_txt_is_detected(tmp_path):
    path = tmp_path / "export.txt"
    path.write_text("Email\tNom\na@acme.com\tMartin\n", encoding="utf-8")
    read = read_lead_file(path)
    assert read.delimiter == "\t"
    assert read.rows[0].fields == {"email": "a@acme.com", "last_name": "Martin"}


def test_quoted_field_with_newline_is_one_value_and_row_numbers_are_physical_lines(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(
        'email,company,notes\n'
        'a@acme.com,ACME,"line one\nline two"\n'
        'b@globex.com,Globex,ok\n',
        encoding="utf-8",
    )
    read = read_lead_file(path)
    assert [r.row_number for r in read.rows] == [2, 4]  # the second record starts on line 4
    assert read.rows[0].raw["notes"] == "line one\nline two"
    assert read.rows[1].fields == {"email": "b@globex.com", "company": "Globex"}
    assert read.unmapped_columns == ["notes"]


def test_blank_rows_are_skipped_but_row_numbers_stay_physical(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("email;company\n\n;\na@acme.com;ACME\n  \n", encoding="utf-8")
    read = read_lead_file(path)
    assert [(r.row_number, r.fields["email"]) for r in read.rows] == [(4, "a@acme.com")]


def test_short_rows_give_none_and_long_rows_keep_extras(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("email,company,country\na@acme.com\nb@acme.com,ACME,FR,surplus,more\n", encoding="utf-8")
    short, long = read_lead_file(path).rows
    assert short.fields == {"email": "a@acme.com", "company": None, "country": None}
    assert short.raw == {"email": "a@acme.com", "company": None, "country": None}
    assert long.fields == {"email": "b@acme.com", "company": "ACME", "country": "FR"}
    assert json.loads(long.raw["_extra"]) == ["surplus", "more"]


def test_trailing_empty_cells_are_not_reported_as_extras(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("email;company\na@acme.com;ACME;;\n", encoding="utf-8")
    assert "_extra" not in read_lead_file(path).rows[0].raw


def test_placeholders_become_none_in_fields_only(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("email,company,phone\na@acme.com,  n/a ,-\n", encoding="utf-8")
    row = read_lead_file(path).rows[0]
    assert row.fields == {"email": "a@acme.com", "company": None, "phone": None}
    assert row.raw == {"email": "a@acme.com", "company": "  n/a ", "phone": "-"}


def test_header_only_file_gives_zero_rows(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("Email;Nom\r\n", encoding="utf-8")
    read = read_lead_file(path)
    assert read.rows == []
    assert read.header == ["Email", "Nom"]


def test_explicit_columns_override_default_aliases(tmp_path):
    path = tmp_path / "salon-paris.csv"
    path.write_text(
        "Nom,Email perso,Email pro,Entreprise\nDupont Jean,jean@gmail.com,jean.dupont@acme.fr,ACME\n",
        encoding="utf-8",
    )
    read = read_lead_file(path, columns={"Nom": "full_name", "email pro": "email"})
    assert read.rows[0].fields == {
        "full_name": "Dupont Jean", "email": "jean.dupont@acme.fr", "company": "ACME",
    }
    assert read.unmapped_columns == ["Email perso"]
    assert read.mapping == {"Nom": "full_name", "Email pro": "email", "Entreprise": "company"}


def test_duplicate_and_blank_headers_are_made_unique(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("email,Note,,Note\na@acme.com,x,y,z\n", encoding="utf-8")
    read = read_lead_file(path)
    assert read.header == ["email", "Note", "column_3", "Note_2"]
    assert read.rows[0].raw == {"email": "a@acme.com", "Note": "x", "column_3": "y", "Note_2": "z"}


# --------------------------------------------------------------------------- rejected files


def test_missing_email_column_is_rejected_naming_file_and_found_headers(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Nom;Prénom;Société\nDupont;Jean;ACME\n", encoding="utf-8")
    with pytest.raises(FileRejected) as excinfo:
        read_lead_file(path)
    assert excinfo.value.path == path
    assert excinfo.value.problem == "required column 'email' is missing (found: Nom, Prénom, Société)"
    assert str(excinfo.value) == f"{path}: required column 'email' is missing (found: Nom, Prénom, Société)"


def test_full_name_does_not_satisfy_a_required_email(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Name,Company\nJean Dupont,ACME\n", encoding="utf-8")
    with pytest.raises(FileRejected, match="required column 'email' is missing"):
        read_lead_file(path)


def test_several_missing_required_columns_are_all_named(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Name\nJean\n", encoding="utf-8")
    with pytest.raises(FileRejected) as excinfo:
        read_lead_file(path, required=("email", "company"))
    assert excinfo.value.problem == "required columns 'email', 'company' are missing (found: Name)"


def test_zero_byte_file_is_rejected_as_empty(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(FileRejected) as excinfo:
        read_lead_file(path)
    assert str(excinfo.value) == f"{path}: file is empty"


@pytest.mark.parametrize("content", [b"  \r\n\t\n", b"\xef\xbb\xbf", b";;;\n;;\n"])
def test_whitespace_only_bom_only_or_blank_rows_only_files_are_rejected_as_empty(tmp_path, content):
    path = tmp_path / "blank.csv"
    path.write_bytes(content)
    with pytest.raises(FileRejected, match=r"file is empty$"):
        read_lead_file(path)


def test_binary_file_is_rejected_as_undecodable(tmp_path):
    path = tmp_path / "leads.csv"  # an .xlsx renamed .csv
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00")
    with pytest.raises(FileRejected) as excinfo:
        read_lead_file(path)
    assert excinfo.value.problem == ("not valid UTF-8 or Windows-1252 text "
                                     "(control character U+0003 on line 1, the first line: not a text file)")


def test_unsupported_extension_is_rejected(tmp_path):
    path = tmp_path / "leads.xlsx"
    path.write_bytes(b"email\na@acme.com\n")
    with pytest.raises(FileRejected, match=r"unsupported file type '\.xlsx'"):
        read_lead_file(path)


def test_unterminated_quote_is_rejected_with_the_line_where_the_record_starts(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text('email,company\na@acme.com,"ACME\nb@globex.com,Globex\n', encoding="utf-8")
    with pytest.raises(FileRejected, match="unterminated quoted field in the record starting at line 2"):
        read_lead_file(path)


# --------------------------------------------------------------------------- JSON Lines


def test_jsonl_rows_map_keys_and_keep_garbage_lines_for_quarantine(tmp_path):
    path = tmp_path / "webinar-2024-05.jsonl"
    path.write_text(
        '{"Email": "a@acme.com", "First Name": "Ana", "attended": true, "score": 3}\n'
        "\n"
        "{not json at all\n"
        '["a", "list"]\n'
        '{"Email": " b@globex.com ", "Company": "Globex", "tags": ["x"], "First Name": null}\n',
        encoding="utf-8",
    )
    read = read_lead_file(path)
    assert read.delimiter is None
    assert read.encoding == "utf-8"
    assert read.header == ["Email", "First Name", "attended", "score", "Company", "tags"]
    assert read.unmapped_columns == ["attended", "score", "tags"]
    assert [r.row_number for r in read.rows] == [1, 3, 4, 5]

    first, garbage, not_object, last = read.rows
    assert first.fields == {"email": "a@acme.com", "first_name": "Ana", "company": None}
    assert first.raw == {"Email": "a@acme.com", "First Name": "Ana", "attended": "true", "score": "3"}
    assert garbage.fields == {}
    assert garbage.raw["_line"] == "{not json at all"
    assert garbage.raw["_error"].startswith("invalid JSON: ")
    assert not_object.fields == {}
    assert not_object.raw == {"_line": '["a", "list"]', "_error": "invalid JSON: expected an object, got list"}
    assert last.fields == {"email": "b@globex.com", "first_name": None, "company": "Globex"}
    assert last.raw["tags"] == '["x"]'


def test_jsonl_without_email_key_is_rejected(tmp_path):
    path = tmp_path / "leads.ndjson"
    path.write_text('{"name": "Jean"}\n', encoding="utf-8")
    with pytest.raises(FileRejected) as excinfo:
        read_lead_file(path)
    assert excinfo.value.problem == "required column 'email' is missing (found: name)"


def test_jsonl_of_only_garbage_is_kept_for_quarantine_not_rejected(tmp_path):
    path = tmp_path / "leads.jsonl"
    path.write_text("oops\n", encoding="utf-8")
    read = read_lead_file(path)
    assert read.header == []
    assert [(r.row_number, r.raw["_line"]) for r in read.rows] == [(1, "oops")]


def test_jsonl_explicit_columns_apply(tmp_path):
    path = tmp_path / "leads.jsonl"
    path.write_text('{"contact": "a@acme.com", "org": "ACME"}\n', encoding="utf-8")
    read = read_lead_file(path, columns={"contact": "email", "org": "company"})
    assert read.rows[0].fields == {"email": "a@acme.com", "company": "ACME"}
