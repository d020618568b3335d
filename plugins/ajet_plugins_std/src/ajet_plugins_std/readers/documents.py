"""Documents for the ``generated`` reader: loading text, Markdown and PDF files, and chunking."""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path

from ajet_core.errors import ConfigError

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst"}
PDF_SUFFIXES = {".pdf"}
SUPPORTED = TEXT_SUFFIXES | PDF_SUFFIXES


@dataclass(frozen=True)
class Chunk:
    source: str
    index: int
    text: str


def resolve_documents(patterns: list[str]) -> list[Path]:
    """Files named by paths, folders (searched recursively) or glob patterns, in a stable order."""
    files: list[Path] = []
    for pattern in patterns:
        path = Path(pattern).expanduser()
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED
            )
        elif path.is_file():
            found = [path]
        else:
            found = sorted(
                Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file()
            )
        if not found:
            raise ConfigError(
                f"generated reader: document {pattern!r} matches no file (resolved to "
                f"{path.resolve()}); give files, folders or glob patterns of "
                f"{', '.join(sorted(SUPPORTED))} files"
            )
        for file in found:
            if file.suffix.lower() not in SUPPORTED:
                raise ConfigError(
                    f"generated reader: cannot read {str(file)!r}: supported kinds are "
                    f"{', '.join(sorted(SUPPORTED))}"
                )
            if file not in files:
                files.append(file)
    return files


def load_text(path: Path) -> str:
    if path.suffix.lower() in PDF_SUFFIXES:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError

        try:
            pages = [page.extract_text() or "" for page in PdfReader(str(path)).pages]
        except (PdfReadError, OSError, ValueError) as exc:
            raise ConfigError(f"generated reader: cannot read PDF {str(path)!r}: {exc}") from None
        text = "\n\n".join(pages)
        if not text.strip():
            raise ConfigError(
                f"generated reader: PDF {str(path)!r} has no extractable text (a scanned PDF needs "
                "OCR first)"
            )
        return text
    return path.read_text(encoding="utf-8", errors="replace")


def chunk_text(text: str, source: str, *, size: int, overlap: int) -> list[Chunk]:
    """Paragraph-aligned chunks of at most ``size`` characters; each starts with up to
    ``overlap`` characters of the previous chunk's end so facts split at a boundary survive."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    pieces: list[str] = []
    for paragraph in paragraphs:
        paragraph = re.sub(r"[ \t]+", " ", paragraph)
        while len(paragraph) > size:  # an over-long paragraph is cut at a space near the limit
            cut = paragraph.rfind(" ", size // 2, size)
            cut = cut if cut > 0 else size
            pieces.append(paragraph[:cut].strip())
            paragraph = paragraph[cut:].strip()
        if paragraph:
            pieces.append(paragraph)
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + 2 + len(piece) > size:
            chunks.append(current)
            tail = current[-overlap:] if overlap else ""
            tail = tail[tail.find(" ") + 1 :] if " " in tail else tail
            current = f"{tail}\n\n{piece}" if tail and len(tail) + 2 + len(piece) <= size else piece
        else:
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        chunks.append(current)
    return [Chunk(source, i, c) for i, c in enumerate(chunks)]
