"""Read the two facts this package needs from a shared library's ELF file, without loading it:
where a named section lies (``.nv_fatbin``: the GPU code of MXNet's CUDA build) and which
libraries it links by soname (``DT_NEEDED``: the CUDA libraries ``_compat`` may preload).

Only 64-bit little-endian files (x86_64, aarch64) are read; anything else reads as "nothing"."""
import struct

_SECTION = struct.Struct("<IIQQQQIIQQ")     # Elf64_Shdr
_DYNAMIC = struct.Struct("<qQ")             # Elf64_Dyn
DT_NEEDED = 1
_MAX_SECTIONS = 1 << 16
_MAX_TABLE = 1 << 24                        # a section table larger than this is not read
_MAX_NAME = 4096


def sections(handle):
    """{name: (file offset, size)} of the open ELF file ``handle`` (empty if it is not one)."""
    handle.seek(0)
    header = handle.read(64)
    if len(header) < 64 or header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
        return {}
    shoff, = struct.unpack_from("<Q", header, 0x28)
    entsize, count, names_index = struct.unpack_from("<HHH", header, 0x3A)
    if entsize != _SECTION.size or not 0 < count < _MAX_SECTIONS or names_index >= count:
        return {}
    handle.seek(shoff)
    table = handle.read(entsize * count)
    if len(table) < entsize * count:
        return {}
    headers = [_SECTION.unpack_from(table, i * entsize) for i in range(count)]
    names = _read(handle, headers[names_index][4], headers[names_index][5])
    found = {}
    for name_at, _, _, _, offset, size, _, _, _, _ in headers:
        end = names.find(b"\0", name_at)
        if 0 <= name_at < len(names) and end > name_at:
            found[names[name_at:end].decode("ascii", "replace")] = (offset, size)
    return found


def needed(path):
    """The sonames ``path`` links (its ``DT_NEEDED`` entries), in file order; [] if unreadable."""
    names = []
    try:
        with open(path, "rb") as handle:
            found = sections(handle)
            if ".dynamic" not in found or ".dynstr" not in found:
                return []
            dynamic = _read(handle, *found[".dynamic"])
            strings, strings_size = found[".dynstr"]
            for at in range(0, len(dynamic) - _DYNAMIC.size + 1, _DYNAMIC.size):
                tag, value = _DYNAMIC.unpack_from(dynamic, at)
                if tag == 0:
                    break
                if tag == DT_NEEDED and value < strings_size:
                    handle.seek(strings + value)
                    name = handle.read(_MAX_NAME).split(b"\0", 1)[0]
                    names.append(name.decode("ascii", "replace"))
    except OSError:
        return []
    return names


def _read(handle, offset, size):
    if size > _MAX_TABLE:
        return b""
    handle.seek(offset)
    return handle.read(size)
