"""Real, small, valid files: what a client downloads from an asset or signed-agreement URL."""

import struct
import zlib
from itertools import pairwise
from typing import Any


def _pdf_escape(text: str) -> str:
    return (
        text.encode("latin-1", "replace")
        .decode("latin-1")
        .replace("\\", "\\\\")
        .replace("(", "\\(")
        .replace(")", "\\)")
    )


def pdf(title: str, lines: list[str]) -> bytes:
    """A one-page PDF 1.4 with Helvetica text and a correct xref table, so real parsers accept it."""
    text_ops = ["BT", "/F1 18 Tf", "72 740 Td", f"({_pdf_escape(title)}) Tj", "/F1 11 Tf"]
    for line in lines:
        text_ops += ["0 -18 Td", f"({_pdf_escape(line)}) Tj"]
    text_ops.append("ET")
    stream = "\n".join(text_ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Title (" + _pdf_escape(title).encode("latin-1") + b") /Producer (aurora_sim) >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode() + b"0000000000 65535 f \n"
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\n".encode()
    out += f"startxref\n{xref_at}\n%%EOF\n".encode()
    return bytes(out)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width: int, height: int, rows: int, cols: int) -> bytes:
    """An RGB PNG of a roof with a `rows` by `cols` panel grid — a stand-in for a CAD screenshot."""
    roof, panel, frame = (150, 140, 130), (25, 45, 95), (200, 200, 210)
    raw = bytearray()
    margin, cell_w, cell_h = 8, max(2, (width - 16) // max(cols, 1)), max(2, (height - 16) // max(rows, 1))
    for y in range(height):
        raw.append(0)
        for x in range(width):
            gx, gy = x - margin, y - margin
            inside = 0 <= gx < cell_w * cols and 0 <= gy < cell_h * rows
            if inside and (gx % cell_w == 0 or gy % cell_h == 0):
                raw += bytes(frame)
            elif inside:
                raw += bytes(panel)
            else:
                raw += bytes(roof)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(bytes(raw), 6))
        + _png_chunk(b"IEND", b"")
    )


def dxf(rows: int, cols: int, panel_w: float = 1.05, panel_h: float = 1.75) -> bytes:
    """ASCII DXF (R12 entities only) with one closed polyline per module."""
    lines = ["0", "SECTION", "2", "HEADER", "9", "$ACADVER", "1", "AC1009", "9", "$INSUNITS", "70", "6", "0", "ENDSEC"]
    lines += ["0", "SECTION", "2", "ENTITIES"]
    for r in range(rows):
        for c in range(cols):
            x0, y0 = c * (panel_w + 0.02), r * (panel_h + 0.02)
            corners = [(x0, y0), (x0 + panel_w, y0), (x0 + panel_w, y0 + panel_h), (x0, y0 + panel_h), (x0, y0)]
            for (xa, ya), (xb, yb) in pairwise(corners):
                lines += ["0", "LINE", "8", "MODULES", "10", f"{xa:.3f}", "20", f"{ya:.3f}", "30", "0.0"]
                lines += ["11", f"{xb:.3f}", "21", f"{yb:.3f}", "31", "0.0"]
    lines += ["0", "ENDSEC", "0", "EOF"]
    return ("\n".join(lines) + "\n").encode("ascii")


def render(kind: str, context: dict[str, Any]) -> bytes:
    modules = int(context.get("modules", 20))
    cols = max(1, min(10, modules))
    rows = max(1, -(-modules // cols))
    if kind == "screenshot_png":
        return png(160, 120, rows, cols)
    if kind == "dxf":
        return dxf(rows, cols)
    if kind == "proposal_pdf":
        return pdf(
            str(context.get("title", "Solar Proposal")),
            [
                f"Project: {context.get('project_name', '')}",
                f"Property: {context.get('address', '')}",
                f"System size (STC): {context.get('system_size_stc', '')} W",
                f"System price: {context.get('system_price', '')}",
            ],
        )
    if kind == "agreement_pdf":
        return pdf(
            str(context.get("title", "Solar Agreement")),
            [
                f"Customer: {context.get('customer', '')}",
                f"Property: {context.get('address', '')}",
                f"Agreement: {context.get('agreement_id', '')}",
                "Status: signed (all parties)",
            ],
        )
    return pdf(
        str(context.get("title", "Design Layout")),
        [
            f"Project: {context.get('project_name', '')}",
            f"Property: {context.get('address', '')}",
            f"Modules: {modules}",
            f"System size (STC): {context.get('system_size_stc', '')} W",
        ],
    )
