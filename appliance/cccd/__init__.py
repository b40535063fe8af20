"""The card's data: QR payload, 12-digit ID number, provinces, MRZ (TD1), expiry rule, BAC keys.

Pure functions and dataclasses, no devices: every flow (check-in, enrollment, the chip reader)
trusts these modules, so they are exact about what is wrong and forgiving about what is messy.
"""
