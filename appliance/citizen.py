"""The one built-in test citizen shared by every simulator.

The sim QR scanner shows this person's QR payload, the sim chip is personalised with this
identity, and the sim camera shows a portrait; a simulated walk-through is consistent end to end.
The person is fictitious; the ID number follows the real structure (Hà Nội, male, born 1990).
"""

from __future__ import annotations

TEST_CITIZEN: dict[str, str | None] = {
    "id_number": "001090012345",
    "old_id_number": None,
    "full_name": "NGUYỄN VĂN AN",
    "date_of_birth": "1990-03-15",
    "sex": "male",
    "address": "Số 1 Phố X, Phường Y, Quận Z, Hà Nội",
    "issue_date": "2021-04-10",
    "nationality": "Việt Nam",
    "ethnicity": "Kinh",
    "religion": "Không",
    "place_of_origin": "Xã Tân Hội, Huyện Đan Phượng, Hà Nội",
    "identifying_features": "Nốt ruồi C:2cm trên trước đầu lông mày trái",
    "father_name": "NGUYỄN VĂN BÌNH",
    "mother_name": "TRẦN THỊ CÚC",
    "spouse_name": None,
}

# The QR payload printed on this citizen's card (DOMAIN.md section 1 layout).
TEST_QR_PAYLOAD = (
    "001090012345||NGUYỄN VĂN AN|15031990|Nam|Số 1 Phố X, Phường Y, Quận Z, Hà Nội|10042021"
)
