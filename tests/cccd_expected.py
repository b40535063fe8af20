"""The contract objects for the test citizen (`qr parse` and `mrz parse`), shared by tests."""

QR_EXPECTED = {
    "ok": True,
    "layout": "cccd-2021",
    "id_number": "001090012345",
    "old_id_number": None,
    "full_name": "NGUYỄN VĂN AN",
    "date_of_birth": "1990-03-15",
    "sex": "male",
    "address": "Số 1 Phố X, Phường Y, Quận Z, Hà Nội",
    "issue_date": "2021-04-10",
    "expiry_date": "2030-03-15",
    "expired": False,
    "birth_registration": {"kind": "province", "code": "001", "name": "Hà Nội"},
    "bac": {"document_number": "090012345", "date_of_birth": "900315", "date_of_expiry": "300315"},
    "warnings": [],
}

MRZ_EXPECTED = {
    "ok": True,
    "document_code": "ID",
    "issuing_state": "VNM",
    "document_number": "090012345",
    "id_number": "001090012345",
    "date_of_birth": "1990-03-15",
    "sex": "male",
    "date_of_expiry": "2030-03-15",
    "nationality": "VNM",
    "surname": "NGUYEN",
    "given_names": "VAN AN",
    "bac": {"document_number": "090012345", "date_of_birth": "900315", "date_of_expiry": "300315"},
}
