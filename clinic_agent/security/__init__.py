"""The security model's parts: the cryptographic primitives, the key slots and keyring, the audit chain."""
