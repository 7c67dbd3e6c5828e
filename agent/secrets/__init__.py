"""Secrets Store CSI mounts and Azure Key Vault metadata: facts, never values.

Modules: :mod:`.spc` (SecretProviderClass / SPCPS / pod volumes), :mod:`.mounts`
(kubelet tree, atomic-writer layout), :mod:`.files` (content classification,
keyed hashes), :mod:`.keyvault` (metadata-only vault reads and the comparison),
:mod:`.inspector` (the per-cycle entry point).
"""
