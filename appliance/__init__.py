"""CCCD kiosk appliance: HAL, card data, chip, pipeline, store and kiosk UI."""

__version__ = "0.1.0"
