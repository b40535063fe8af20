"""The chip: APDU transport, BAC and secure messaging, LDS files, passive and active
authentication, and a CCCD chip emulator (in process, or as a vpcd client for pcscd).

Entry point for readers: :func:`appliance.icao.reader.read_card`.
"""
