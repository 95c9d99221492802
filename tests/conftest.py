"""Shared test set-up: the fixtures PKI generator and the real-server judges are plain modules."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
for path in (HERE, os.path.join(REPO, "fixtures")):
    if path not in sys.path:
        sys.path.insert(0, path)

os.environ.setdefault("SSLINT_PKI_CACHE", os.path.join(REPO, ".pki-cache"))
