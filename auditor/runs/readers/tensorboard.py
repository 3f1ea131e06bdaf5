"""TensorBoard event files (`events.out.tfevents.*`), read without TensorFlow and without down-sampling.

Framing per record: uint64 length, uint32 masked CRC32C of the length, the Event protobuf, uint32
masked CRC32C of the data. The Event/Summary messages are decoded by a tiny protobuf wire decoder
(below) that keeps only what scalars need. Both scalar encodings are read: `simple_value` (PyTorch,
tensorboardX, TF1) and `tensor` with plugin "scalars" (TF2, whose metadata is only on a tag's first event).
"""

from __future__ import annotations

import json
import os
import re
import struct

import yaml

from auditor.runs.readers.common import read_bytes
from auditor.runs.record import Run
from auditor.runs.series import Series, series_for

EVENT_PREFIX = "events.out.tfevents"
# PyTorch's SummaryWriter.add_hparams writes into a sub-folder named after time.time() (unless given a
# run_name): that folder belongs to the run above it, it is not a run of its own.
HPARAMS_SUBDIR = re.compile(r"^\d{9,}\.\d+$")
# add_text tags whose text is the run's configuration (PyTorch appends "/text_summary" to the tag).
CONFIG_TEXT_TAGS = ("config", "hparams", "args", "cfg", "params")


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


try:  # a compiled, maintained implementation (hardware CRC32C where the CPU has it)
    from crc32c import crc32c as _compiled_crc32c
except ImportError:  # pragma: no cover - a dependency; kept so a broken install still reads the scalars
    _compiled_crc32c = None

# Without the compiled package, CRCs are checked in Python only for files up to this size (~1 s of work);
# larger files are read unchecked and the run says so.
PURE_PYTHON_CRC_LIMIT = 8 * 1024 * 1024


def crc32c(data: bytes) -> int:
    if _compiled_crc32c is not None:
        return _compiled_crc32c(data)
    return _pure_crc32c(data)


def _pure_crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def checks_crc(size: int) -> bool:
    return _compiled_crc32c is not None or size <= PURE_PYTHON_CRC_LIMIT


def records(data: bytes, check: bool = True) -> tuple[list[bytes], str | None]:
    """The payloads of a TFRecord file and, if the tail is torn or corrupt, why reading stopped.
    check=False skips the CRCs (the framing is still checked)."""
    out, pos = [], 0
    while pos < len(data):
        if pos + 12 > len(data):
            return out, f"truncated record header at byte {pos}"
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack_from("<I", data, pos + 8)
        if check and masked_crc32c(header) != length_crc:
            return out, f"corrupt record length at byte {pos}"
        end = pos + 12 + length + 4
        if end > len(data):
            return out, f"truncated last record at byte {pos} (half-written file)"
        payload = data[pos + 12:pos + 12 + length]
        (data_crc,) = struct.unpack_from("<I", data, pos + 12 + length)
        if check and masked_crc32c(payload) != data_crc:
            return out, f"CRC mismatch in record at byte {pos}"
        out.append(payload)
        pos = end
    return out, None


# -- protobuf wire format: just enough for Event -> Summary -> Value -------------------------------

def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> list[tuple[int, int, object]]:
    """(field number, wire type, value) of one message; values of length-delimited fields are bytes."""
    out, pos = [], 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


_TENSOR_FORMATS = {1: "<f", 2: "<d", 3: "<i", 9: "<q", 19: "<e"}  # DT_FLOAT, DOUBLE, INT32, INT64, HALF


def _tensor_scalar(data: bytes) -> float | None:
    dtype, dims, content, packed = 1, 0, b"", {}
    for number, wire, value in fields(data):
        if number == 1:
            dtype = value
        elif number == 2:
            dims = sum(1 for n, _, _ in fields(value) if n == 2)
        elif number == 4:
            content = value
        elif number in (5, 6, 7, 10, 13):
            packed.setdefault(number, []).append((wire, value))
    if dims:
        return None  # not a scalar
    if content and dtype in _TENSOR_FORMATS:
        return float(struct.unpack_from(_TENSOR_FORMATS[dtype], content)[0])
    for number, fmt in ((5, "<f"), (6, "<d")):
        for wire, value in packed.get(number, []):
            if wire == 2 and value:
                return float(struct.unpack_from(fmt, value)[0])
            if wire in (1, 5):
                return float(struct.unpack(fmt, value)[0])
    for number in (7, 10, 13):
        for wire, value in packed.get(number, []):
            raw = _varint(value, 0)[0] if wire == 2 and value else value
            if number == 13:
                return float(struct.unpack("<e", struct.pack("<H", raw & 0xFFFF))[0])
            return float(_signed64(raw))
    return None


def _plugin_name(metadata: bytes) -> str | None:
    for number, _, value in fields(metadata):
        if number == 1:
            for sub_number, _, sub_value in fields(value):
                if sub_number == 1:
                    return sub_value.decode("utf-8", "replace")
    return None


def decode_event(payload: bytes, scalar_tags: set[str], extras: dict | None = None) -> tuple[int, list[tuple[str, float]]]:
    """(step, [(tag, value)]) of one Event; `scalar_tags` remembers tags declared as TF2 scalars.
    With `extras`, hyperparameters (add_hparams) go to extras["hparams"], config texts (add_text) to
    extras["texts"] and the event's wall time to extras["wall_time"]."""
    step, values = 0, []
    for number, wire, value in fields(payload):
        if number == 1 and wire == 1 and extras is not None:
            wall = struct.unpack("<d", value)[0]
            extras["wall_time"] = max(extras.get("wall_time", 0.0), wall)
            extras.setdefault("first_wall_time", wall)
        elif number == 2:
            step = _signed64(value)
        elif number == 5:
            for sub_number, _, raw in fields(value):
                if sub_number == 1:
                    if extras is not None:
                        _plugin_extras(raw, extras)
                    item = _summary_value(raw, scalar_tags)
                    if item:
                        values.append(item)
    return step, values


def _plugin(metadata: bytes) -> tuple[str | None, bytes]:
    """(plugin name, plugin content) of a SummaryMetadata."""
    for number, _, value in fields(metadata):
        if number == 1:
            name, content = None, b""
            for sub_number, _, sub_value in fields(value):
                if sub_number == 1:
                    name = sub_value.decode("utf-8", "replace")
                elif sub_number == 2:
                    content = sub_value
            return name, content
    return None, b""


def _plugin_extras(raw: bytes, extras: dict) -> None:
    tag, metadata, tensor = None, None, None
    for number, _, value in fields(raw):
        if number == 1:
            tag = value.decode("utf-8", "replace")
        elif number == 9:
            metadata = value
        elif number == 8:
            tensor = value
    if metadata is None or tag is None:
        return
    plugin, content = _plugin(metadata)
    if plugin == "hparams":
        extras.setdefault("hparams", {}).update(_session_hparams(content))
    elif plugin == "text" and tensor is not None:
        name = tag.removesuffix("/text_summary").rsplit("/", 1)[-1].lower()
        if name in CONFIG_TEXT_TAGS:
            text = next((v for n, _, v in fields(tensor) if n == 8), None)  # TensorProto.string_val
            if text is not None:
                extras.setdefault("texts", []).append(text.decode("utf-8", "replace"))


def _session_hparams(content: bytes) -> dict:
    """HParamsPluginData.session_start_info.hparams: {name: number | string | bool}."""
    out = {}
    for number, _, value in fields(content):
        if number != 3:  # session_start_info
            continue
        for sub_number, _, entry in fields(value):
            if sub_number != 1:  # map<string, google.protobuf.Value> hparams
                continue
            key, item = None, None
            for n, _, v in fields(entry):
                if n == 1:
                    key = v.decode("utf-8", "replace")
                elif n == 2:
                    item = _protobuf_value(v)
            if key is not None:
                out[key] = item
    return out


def _protobuf_value(data: bytes):
    for number, _, value in fields(data):
        if number == 2:
            return struct.unpack("<d", value)[0]
        if number == 3:
            return value.decode("utf-8", "replace")
        if number == 4:
            return bool(value)
    return None


def _config_from_texts(texts: list[str]) -> dict:
    """A config logged with add_text (YAML or JSON, possibly in a Markdown code block); {} if none parses."""
    for text in reversed(texts):
        body = re.sub(r"^\s*```\w*\s*\n|\n\s*```\s*$", "", text.strip())
        try:
            data = json.loads(body)
        except ValueError:
            try:
                data = yaml.safe_load(body)
            except yaml.YAMLError:
                continue
        if isinstance(data, dict) and data:
            return data
    return {}


def _typed_hparams(hparams: dict) -> dict:
    """add_hparams stores every number as a double: a whole number that was an int is one again."""
    return {k: (int(v) if isinstance(v, float) and v.is_integer() else v) for k, v in hparams.items()}


def _summary_value(raw: bytes, scalar_tags: set[str]) -> tuple[str, float] | None:
    tag, simple, tensor, plugin = None, None, None, None
    for number, _, value in fields(raw):
        if number == 1:
            tag = value.decode("utf-8", "replace")
        elif number == 2:
            simple = struct.unpack("<f", value)[0]
        elif number == 8:
            tensor = value
        elif number == 9:
            plugin = _plugin_name(value)
    if tag is None:
        return None
    if plugin == "scalars":
        scalar_tags.add(tag)
    if simple is not None:
        return tag, float(simple)
    if tensor is not None and tag in scalar_tags:
        scalar = _tensor_scalar(tensor)
        return (tag, scalar) if scalar is not None else None
    return None


def read_scalars(paths: list[str], display_folder: str, problems: list[dict],
                 extras: dict | None = None) -> dict[str, Series]:
    """Every scalar point of the given event files: {tag: Series of (step, value)}, nothing down-sampled."""
    metrics: dict[str, Series] = {}
    for path in sorted(paths):
        display = os.path.join(display_folder, os.path.basename(path))
        data = read_bytes(path)
        checked = checks_crc(len(data))
        payloads, problem = records(data, check=checked)
        if not checked:
            problems.append({"message": f"TensorBoard events: CRCs not checked ({len(data)} bytes; install the crc32c "
                                        "package to check them at any size)", "path": display})
        if problem:
            problems.append({"message": f"TensorBoard events: {problem}; earlier records were read", "path": display})
        scalar_tags: set[str] = set()
        for index, payload in enumerate(payloads):
            try:
                step, values = decode_event(payload, scalar_tags, extras)
            except (ValueError, IndexError, struct.error):
                problems.append({"message": f"TensorBoard events: record {index} is not a valid Event; skipped",
                                 "path": display})
                continue
            for tag, value in values:
                series_for(metrics, tag).append(step, value)
    return metrics


def event_files(folder: str, names: set[str]) -> list[str]:
    return sorted(os.path.join(folder, n) for n in names if n.startswith(EVENT_PREFIX))


def hparams_folders(folder: str) -> list[str]:
    """The add_hparams sub-folders of a run folder (named after a time stamp, holding event files)."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [os.path.join(folder, n) for n in names
            if HPARAMS_SUBDIR.match(n) and os.path.isdir(os.path.join(folder, n))]


def read(folder: str, display_folder: str, names: set[str], run_id: str) -> list[Run]:
    problems: list[dict] = []
    extras: dict = {}
    paths = event_files(folder, names)
    metrics = read_scalars(paths, display_folder, problems, extras)
    for sub in hparams_folders(folder):
        sub_display = os.path.join(display_folder, os.path.basename(sub))
        sub_events = event_files(sub, set(os.listdir(sub)))
        # its scalars are add_hparams' metric_dict copies: only the hyperparameters are the run's
        read_scalars(sub_events, sub_display, problems, extras)
    config = _config_from_texts(extras.get("texts", []))
    config = {**_typed_hparams(extras.get("hparams", {})), **config}
    return [Run(id=run_id, folder=folder, source="tensorboard", metrics=metrics, config=config,
                started_at=extras.get("first_wall_time"), ended_at=extras.get("wall_time"),
                record_path=os.path.join(display_folder, os.path.basename(paths[0])), problems=problems)]
