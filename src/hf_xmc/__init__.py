"""hf-xmc: extreme multi-label text classification (XMC) as ordinary Hugging Face citizens."""

from __future__ import annotations


__version__ = "0.1.0"
