"""Settings that are fine on a developer's desk and must be impossible in the field.

Outside the ``sim`` profile the configuration loader refuses (``ConfigError``):

* ``[store] demo_office_key = true`` (also via ``APPLIANCE_STORE_DEMO_OFFICE_KEY=1``): captures
  would be sealed to a key pair whose private half sits in the state directory;
* ``[service] host`` other than loopback: the kiosk screen (personal data) on the network.

``appliance provision`` also refuses, outside ``sim``, the example secrets printed in
``docs/provision.example.toml`` (PIN, admin password, upload token): a kiosk provisioned from the
example unchanged has credentials anyone can read in the documentation.
"""

from __future__ import annotations

from typing import Any

from appliance.errors import ConfigError

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
# Every secret docs/provision.example.toml shows (tests/test_field_rules.py keeps them in sync).
EXAMPLE_SECRETS = frozenset(
    {
        "40731985",
        "407319",
        "change-me-to-a-long-passphrase",
        "paste-the-office-issued-token-here",
    }
)


def check_field_config(cfg: Any) -> None:
    """Raise :class:`ConfigError` for demo-only settings in a field profile."""
    if cfg.profile == "sim":
        return
    if cfg.store.demo_office_key:
        raise ConfigError(
            f"the demo office key protects nothing; not allowed in the {cfg.profile} profile "
            "(set [store] office_public_key, see docs/data-lifecycle.md)",
            key="store.demo_office_key",
        )
    if cfg.service.host not in LOOPBACK_HOSTS:
        raise ConfigError(
            f"{cfg.service.host!r} would put the kiosk screen on the network; "
            f"only {', '.join(LOOPBACK_HOSTS)} outside the sim profile",
            key="service.host",
        )


def is_example_secret(value: str) -> bool:
    """Whether ``value`` is one of the documentation's example secrets."""
    return value.strip() in EXAMPLE_SECRETS
