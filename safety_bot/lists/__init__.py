"""Shared lists (issue 19): hash lists in the ThreatExchange file format, followed and exported, with
provenance; Ed25519 signing; the optional HMA lookup backend; Matrix policy lists; Discord ban pools."""
