"""Power-cut test, guest side: the real store, saving captures as the service does, forever.

Run by ``init`` inside the guest with the image's own Python and appliance package::

    writer.py STATE_DIR EXPORT_DIR OFFICE_PUB EXPORT_EVERY [SYNCHRONOUS]

SYNCHRONOUS is the store's own default, FULL, unless the harness is being tested:
``POWERCUT_SYNCHRONOUS=NORMAL`` (commits not fsync'd) must make the power-cut test fail.

Per citizen, as the enrollment workflow does (``service_adapters._save``): a consent record, then
``Store.save_capture`` with the identity, a portrait and two fingerprints of the usual sizes. Every
``EXPORT_EVERY`` captures, the USB hand-over (``export_bundles(..., mark_delivered=True)``) to
EXPORT_DIR on the same disk. Each line below is printed on the console only AFTER the call that
made it durable returned, with one write(2) per line, so the host may hold the disk to every line
it received (``powercut/check.py``)::

    PC opening                           Store.open is about to run (first start: keys, schema)
    PC ready KEY_ID SCHEMA               the device key is on disk, the schema migrated
    PC consent CONSENT_ID                record_consent returned
    PC saved RECEIPT BUNDLE_ID           save_capture returned (the citizen is shown RECEIPT)
    PC exported BUNDLE_ID SHA256         export_bundles returned: file written, bundle acked
"""

from __future__ import annotations

import os
import sys


def say(line: str) -> None:
    os.write(1, f"PC {line}\n".encode())


def main() -> None:
    state_dir, export_dir, office_pub, every = sys.argv[1:5]
    synchronous = sys.argv[5] if len(sys.argv) > 5 else "FULL"
    export_every = max(1, int(every))
    from appliance.citizen import TEST_CITIZEN
    from appliance.store import Store, export_bundles
    from appliance.store.testing import CONSENT_HASH, sample_images

    say("opening")
    store = Store.open(state_dir, office_public_key=office_pub, synchronous=synchronous)
    say(f"ready {store.device_key.key_id} {store.schema_version}")
    saved = 0
    while True:
        consent = store.record_consent(["face", "fingerprints"], CONSENT_HASH, "v1", language="vi")
        say(f"consent {consent}")
        portrait, fingers = sample_images()
        receipt = store.save_capture(
            {**TEST_CITIZEN, "source": "qr"},
            portrait=portrait,
            fingerprints=fingers,
            quality={"face": None, "fingers": {}, "captured_by": "self_service"},
            consent_id=consent,
        )
        say(f"saved {receipt.receipt_code} {receipt.bundle_id}")
        saved += 1
        if saved % export_every == 0:
            pending = store.query("SELECT bundle_id, sha256 FROM outbox WHERE state = 'pending'")
            export_bundles(store, export_dir, mark_delivered=True)
            for row in pending:
                say(f"exported {row['bundle_id']} {row['sha256']}")


if __name__ == "__main__":
    try:
        main()
    except BaseException as exc:  # the host fails the cycle on this line
        say(f"error {type(exc).__name__}: {exc}")
        sys.exit(1)
