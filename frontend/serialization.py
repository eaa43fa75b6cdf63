"""``tcomp.save`` / ``tcomp.load``: pytrees of arrays in the safetensors format.

A file holds one tensor per leaf, named by its path in the tree
(``params.w1``, ``layers.0.b``; made unique with ``~N`` where two paths
print alike), and two metadata entries: ``tcomp.format`` (``1``) and
``tcomp.tree``, the structure as JSON (see :mod:`tcomp.frontend.serialization_tree`).
No pickle: loading builds only arrays, Python scalars, dicts, lists, tuples,
None and namedtuples, and a file whose metadata is anything else is a
:class:`TcompArgumentError`. A safetensors file with no tcomp metadata (written
by PyTorch, JAX, ``safetensors.numpy``) loads as a flat ``{name: array}`` dict.

Leaves: numpy arrays and anything numpy makes one of (brought to tcomp's
dtypes as a jit argument is: int64 becomes int32 when it fits), ``tcomp.Array``,
and Python ``bool``/``int``/``float`` (stored as 0-d BOOL/I64/F64 tensors and
loaded back as Python scalars). Dtypes: float32, float64, float16, bfloat16
(safetensors ``BF16``), int8, uint8, int32, uint32, int64 (``I8 U8 I32 U32 I64``), bool.
An int64 leaf of a tcomp file (saved from an int64 ``tcomp.Array``) loads as int64; in
a file of another tool it is brought to tcomp's dtypes as a jit argument is.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

import numpy as np

from tcomp.frontend.array import Array
from tcomp.frontend.pytree import leaf_paths, tree_flatten, tree_unflatten
from tcomp.frontend.serialization_tree import FORMAT, decode_tree, encode_tree, same_structure
from tcomp.frontend.trace import Tracer
from tcomp.frontend.values import (
    BFLOAT16,
    canonical_host_array,
    host_array,
    is_python_scalar,
    native_byte_order,
)
from tcomp.ir.errors import TcompArgumentError, TcompTracerError, TcompTypeError
from tcomp.ir.types import TensorType, canonical_dtype

FORMAT_KEY, TREE_KEY = "tcomp.format", "tcomp.tree"

# safetensors dtype codes numpy can hold (BF16 through ml_dtypes); tcomp's own files use
# the first six, and I64 for Python ints
_CODES = {
    "F32": np.dtype(np.float32),
    "F64": np.dtype(np.float64),
    "F16": np.dtype(np.float16),
    "BF16": BFLOAT16,
    "I32": np.dtype(np.int32),
    "BOOL": np.dtype(np.bool_),
    "I64": np.dtype(np.int64),
    "I16": np.dtype(np.int16),
    "I8": np.dtype(np.int8),
    "U8": np.dtype(np.uint8),
    "U16": np.dtype(np.uint16),
    "U32": np.dtype(np.uint32),
    "U64": np.dtype(np.uint64),
}
_TCOMP_CODES = ("F32", "F64", "F16", "BF16", "I8", "U8", "I32", "U32", "I64", "BOOL")
_PYTHON_CODES = {"bool": "BOOL", "int": "I64", "float": "F64"}
_NAMES = {np.dtype(np.bool_): "bool", BFLOAT16: "bfloat16"}  # others: dtype.name


def save(path: str | os.PathLike, tree: Any) -> None:
    """Writes the pytree ``tree`` to ``path`` as a safetensors file (replacing it at once
    when it exists); load it with :func:`load`."""
    import safetensors

    leaves, treedef = tree_flatten(tree)
    names = _tensor_names(leaf_paths(treedef))
    arrays: dict[str, np.ndarray] = {}
    leaf_nodes = []
    for leaf, name, where in zip(leaves, names, leaf_paths(treedef, "tree")):
        node = {"kind": "leaf", "tensor": name}
        if is_python_scalar(leaf):
            node["python"] = type(leaf).__name__
            arrays[name] = _python_scalar_array(leaf, where)
        else:
            arrays[name] = _leaf_array(leaf, where)
        leaf_nodes.append(node)
    metadata = {FORMAT_KEY: FORMAT, TREE_KEY: encode_tree(treedef, leaf_nodes)}
    path = os.fspath(path)
    # a new file beside the target (mode 0o666 less the umask, as open() gives), moved over
    # it once complete: a reader never sees half a file
    folder, base = os.path.split(os.path.abspath(path))
    temporary = os.path.join(folder, f".{base}.{secrets.token_hex(6)}.tmp")
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        mode = os.stat(temporary).st_mode & 0o777
        safetensors.serialize_file(_specs(arrays), temporary, metadata=metadata)
        os.chmod(temporary, mode)  # newer safetensors write their files 0o600
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def load(path: str | os.PathLike, backend: str | None = None, like: Any = None) -> Any:
    """The pytree :func:`save` wrote to ``path``: numpy arrays (``backend=None``) or
    ``tcomp.Array`` on ``backend``; Python scalars stay Python scalars. A safetensors
    file without tcomp metadata gives ``{name: array}``. ``like``: a tree of the same
    structure whose containers the result takes (its namedtuple classes, so a loaded
    optimiser state is of ``tcomp.optim``'s own classes); its leaves are not used."""
    path = os.fspath(path)
    metadata, tensors, codes = _read(path)
    tcomp_keys = {FORMAT_KEY, TREE_KEY} & set(metadata)
    if not tcomp_keys:
        flat = {
            name: _to_backend(array, backend, f"{path}: {name}")
            for name, array in sorted(tensors.items())
        }
        return _like(flat, like, path)
    if metadata.get(FORMAT_KEY) != FORMAT or TREE_KEY not in metadata:
        raise TcompArgumentError(
            f"tcomp.load: {path}: {FORMAT_KEY} is {metadata.get(FORMAT_KEY)!r} with "
            f"{TREE_KEY} {'present' if TREE_KEY in metadata else 'missing'}; this tcomp reads "
            f"format {FORMAT!r} (a newer tcomp may have written it)"
        )
    used: set[str] = set()

    def make_leaf(name: str, python: str | None) -> Any:
        if name not in tensors:
            raise TcompArgumentError(
                f"the tcomp metadata is malformed: it names a tensor {name!r} the file does not hold"
            )
        if name in used:
            raise TcompArgumentError(
                f"the tcomp metadata is malformed: it names the tensor {name!r} twice"
            )
        used.add(name)
        array, code = tensors[name], codes[name]
        if python is not None:
            if code != _PYTHON_CODES[python] or array.shape != ():
                raise TcompArgumentError(
                    f"the tcomp metadata is malformed: a Python {python} leaf is stored as a "
                    f"0-d {_PYTHON_CODES[python]} tensor, {name!r} is {code}{list(array.shape)}"
                )
            return {"bool": bool, "int": int, "float": float}[python](array.item())
        if code not in _TCOMP_CODES:
            raise TcompArgumentError(
                f"the tcomp metadata is malformed: the array leaf {name!r} is {code}, not one of "
                f"tcomp's dtypes ({', '.join(_TCOMP_CODES)})"
            )
        return _to_backend(array, backend, f"{path}: {name}", keep_int64=True)

    try:
        tree = decode_tree(metadata[TREE_KEY], make_leaf)
        if set(tensors) - used:
            extra = sorted(set(tensors) - used)
            raise TcompArgumentError(
                f"the tcomp metadata is malformed: the file holds tensors its structure does "
                f"not place: {', '.join(map(repr, extra[:5]))}{' ...' if len(extra) > 5 else ''}"
            )
    except TcompArgumentError as error:
        raise TcompArgumentError(f"tcomp.load: {path}: {error}") from None
    return _like(tree, like, path)


def _read(path: str) -> tuple[dict[str, str], dict[str, np.ndarray], dict[str, str]]:
    """The file's metadata, its tensors as numpy arrays (writable, in this machine's byte
    order) and each tensor's safetensors dtype code (``F32``, ``BF16`` ...)."""
    import safetensors

    with open(path, "rb") as file:
        data = file.read()
    try:
        with safetensors.safe_open(path, framework="numpy") as opened:
            metadata = dict(opened.metadata() or {})
        entries = safetensors.deserialize(data)
    except Exception as error:  # SafetensorError, and the header's own checks
        raise TcompArgumentError(
            f"tcomp.load: {path} is not a valid safetensors file: {error}"
        ) from None
    tensors, codes = {}, {}
    for name, entry in entries:
        code = entry["dtype"]
        if code not in _CODES:
            raise TcompTypeError(
                f"tcomp.load: {path}: tensor {name!r} has dtype {code}, which numpy cannot "
                f"hold; tcomp reads {', '.join(_CODES)}"
            )
        dtype = _CODES[code]
        stored = dtype.newbyteorder("<") if dtype.kind in "iuf" else dtype
        array = np.frombuffer(entry["data"], dtype=stored).reshape(entry["shape"])
        if code == "BOOL":
            array = array.view(np.uint8) != 0  # any byte but 0 is True, as C reads it
        tensors[name] = np.array(array, dtype=dtype, copy=True)
        codes[name] = code
    return metadata, tensors, codes


def _to_backend(array: np.ndarray, backend: str | None, what: str, keep_int64: bool = False) -> Any:
    """``array`` itself, or as a ``tcomp.Array`` held by ``backend`` (int64 kept as it is
    when ``keep_int64``, else narrowed as a jit argument is)."""
    if backend is None:
        return array
    from tcomp.backends.registry import get_backend

    target = get_backend(backend)
    keep = keep_int64 and array.dtype == np.int64
    host = native_byte_order(array) if keep else canonical_host_array(array, what)
    return Array(
        target.from_host(np.asarray(host, order="C")),
        target,
        TensorType(tuple(host.shape), canonical_dtype(host.dtype)),
    )


def _like(tree: Any, like: Any, path: str) -> Any:
    if like is None:
        return tree
    leaves, treedef = tree_flatten(tree)
    _, like_def = tree_flatten(like)
    if not same_structure(treedef, like_def):
        raise TcompArgumentError(
            f"tcomp.load: {path} holds a tree of structure {treedef}, not that of like= ({like_def})"
        )
    return tree_unflatten(like_def, leaves)


def _tensor_names(paths: list[str]) -> list[str]:
    """A unique tensor name per leaf path: ``['params']['w1'][0]`` becomes ``params.w1.0``."""
    names, used = [], set()
    for path in paths:
        parts = [part.strip("'\"") for part in path.strip("[]").split("][")] if path else []
        base = ".".join(parts) or "value"
        name, count = base, 1
        while name in used:
            name, count = f"{base}~{count}", count + 1
        used.add(name)
        names.append(name)
    return names


def _leaf_array(leaf: Any, where: str) -> np.ndarray:
    """A leaf as a C-contiguous array in one of tcomp's dtypes, little-endian (safetensors'
    byte order)."""
    if isinstance(leaf, Tracer):
        raise TcompTracerError(
            f"tcomp.save: {where} is a traced value ({leaf.aval}) inside jit; return it from "
            "the jitted function and save the result"
        )
    array = (
        np.asarray(leaf) if isinstance(leaf, Array) else host_array(leaf, f"tcomp.save: {where}")
    )
    if array.dtype.str.startswith(">"):  # numbers on a big-endian machine
        array = array.astype(array.dtype.newbyteorder("<"))
    return np.asarray(array, order="C")  # (ascontiguousarray would make a 0-d array 1-d)


def _python_scalar_array(value: bool | int | float, where: str) -> np.ndarray:
    if isinstance(value, bool):
        return np.asarray(value, np.bool_)
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise TcompTypeError(f"tcomp.save: {where}: the int {value} does not fit in 64 bits")
        return np.asarray(value, np.dtype("<i8"))
    return np.asarray(value, np.dtype("<f8"))


def _specs(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The tensors as ``safetensors.serialize_file`` takes them: ``TensorSpec`` pointers
    (safetensors 0.6 and newer; ``arrays`` must stay alive for the call) or the
    older ``{"dtype", "shape", "data"}`` dicts."""
    import safetensors

    spec = getattr(safetensors, "TensorSpec", None)
    specs: dict[str, Any] = {}
    for name, array in arrays.items():
        dtype = _NAMES.get(array.dtype, array.dtype.name)
        if spec is not None:
            specs[name] = spec(
                dtype=dtype,
                shape=list(array.shape),
                data_ptr=array.ctypes.data,
                data_len=array.nbytes,
            )
        else:
            specs[name] = {"dtype": dtype, "shape": list(array.shape), "data": array.tobytes()}
    return specs
