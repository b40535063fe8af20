"""The kiosk workflows as explicit state machines (docs/ui.md).

``engine`` runs them; ``enrollment``, ``verification``, ``checkin``, ``operator`` and ``home`` are
the flows; ``adapters`` is the contract with the rest of the appliance and ``service_adapters`` its
implementation on the running service; ``kiosk`` is the controller the UI server talks to.
"""
