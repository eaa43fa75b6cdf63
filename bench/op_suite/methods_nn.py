"""Neural-network methods of the shim's Tensor: softmax, convolution, pooling,
attention and losses, each one ``tcomp.nn`` function with tinygrad's arguments put in
PyTorch's terms (which ``tcomp.nn`` follows)."""

from __future__ import annotations

from typing import Any

from bench.op_suite.errors import Unsupported
from bench.op_suite.lookup import fn
from bench.op_suite.methods_reduce import along_axis


def _conv_padding(padding: Any, d: int) -> Any:
    """tinygrad's padding (an int, one per axis, or ``2 * d`` values in F.pad's order,
    last axis first) as ``tcomp.nn``'s (an int, one per axis, or pairs per axis)."""
    if isinstance(padding, (list, tuple)) and len(padding) == 2 * d:
        flat = list(padding)
        return tuple((flat[2 * (d - 1 - a)], flat[2 * (d - 1 - a) + 1]) for a in range(d))
    return tuple(padding) if isinstance(padding, list) else padding


class NNMethods:
    """``softmax``, ``conv2d``, ``max_pool2d``, ``scaled_dot_product_attention``,
    ``cross_entropy`` and the like."""

    def softmax(self: Any, axis: int = -1) -> Any:
        return along_axis(self, "softmax", fn("softmax", where="nn"), axis)

    def log_softmax(self: Any, axis: int = -1) -> Any:
        return along_axis(self, "log_softmax", fn("log_softmax", where="nn"), axis)

    def softmin(self: Any, axis: int = -1) -> Any:
        return along_axis(self, "softmin", fn("softmin", where="nn"), axis)

    def normalize(self: Any, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Any:
        return self._record("normalize", fn("normalize", where="nn"), self, p=p, dim=dim, eps=eps)

    def layernorm(self: Any, axis: Any = -1, eps: float = 1e-5) -> Any:
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        if sorted(a % self.ndim for a in axes) != list(range(self.ndim - len(axes), self.ndim)):
            raise Unsupported("layer_norm over leading axes", f"axis={axis}")
        shape = self.shape[self.ndim - len(axes) :]
        return self._record(
            "layer_norm", fn("layer_norm", where="nn"), self, eps=eps, normalized_shape=shape
        )

    # convolution
    def conv2d(
        self: Any,
        weight: Any,
        bias: Any = None,
        groups: int = 1,
        stride: Any = 1,
        dilation: Any = 1,
        padding: Any = 0,
    ) -> Any:
        d = weight.ndim - 2
        name = f"conv{d}d"
        return self._record(
            name,
            fn(name, where="nn"),
            self,
            weight,
            bias,
            stride=stride,
            padding=_conv_padding(padding, d),
            dilation=dilation,
            groups=groups,
        )

    conv = conv2d

    def conv_transpose2d(
        self: Any,
        weight: Any,
        bias: Any = None,
        groups: int = 1,
        stride: Any = 1,
        dilation: Any = 1,
        padding: Any = 0,
        output_padding: Any = 0,
    ) -> Any:
        d = weight.ndim - 2
        name = f"conv_transpose{d}d"
        return self._record(
            name,
            fn(name, where="nn"),
            self,
            weight,
            bias,
            stride=stride,
            padding=_conv_padding(padding, d),
            output_padding=output_padding,
            groups=groups,
            dilation=dilation,
        )

    conv_transpose = conv_transpose2d

    # pooling
    def max_pool2d(
        self: Any,
        kernel_size: Any = (2, 2),
        stride: Any = None,
        dilation: Any = 1,
        padding: Any = 0,
        ceil_mode: bool = False,
        return_indices: bool = False,
    ) -> Any:
        """``tcomp.nn.max_pool{1,2,3}d``; ``return_indices=True`` (2-d only) gives
        tcomp's ``(values, indices)``, PyTorch's flat ``h * W + w`` indices."""
        d = len(kernel_size) if isinstance(kernel_size, (tuple, list)) else self.ndim - 2
        if return_indices and d != 2:
            raise Unsupported(f"max_pool{d}d with indices", "return_indices=True")
        name = f"max_pool{d}d"
        extra = {"return_indices": True} if return_indices else {}
        return self._record(
            name,
            fn(name, where="nn"),
            self,
            kernel_size,
            stride,
            _conv_padding(padding, d),
            dilation,
            ceil_mode,
            **extra,
        )

    def avg_pool2d(
        self: Any,
        kernel_size: Any = (2, 2),
        stride: Any = None,
        dilation: Any = 1,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> Any:
        if dilation not in (1, (1, 1), (1,), (1, 1, 1)):
            raise Unsupported("avg_pool with dilation")
        d = len(kernel_size) if isinstance(kernel_size, (tuple, list)) else self.ndim - 2
        name = f"avg_pool{d}d"
        return self._record(
            name,
            fn(name, where="nn"),
            self,
            kernel_size,
            stride,
            _conv_padding(padding, d),
            ceil_mode,
            count_include_pad,
        )

    max_pool = max_pool2d
    avg_pool = avg_pool2d

    def max_unpool2d(self: Any, *args: Any, **kwargs: Any) -> Any:
        return self._record("max_unpool2d", fn("max_unpool2d", where="nn"), self, *args, **kwargs)

    def interpolate(self: Any, size: Any, mode: str = "linear", align_corners: bool = False) -> Any:
        """tinygrad's ``"linear"`` is n-linear over every spatial axis: PyTorch's
        linear, bilinear or trilinear by the rank."""
        if mode == "linear":
            mode = {1: "linear", 2: "bilinear", 3: "trilinear"}.get(self.ndim - 2, mode)
        corners = align_corners if mode in ("linear", "bilinear", "trilinear", "bicubic") else None
        return self._record(
            "interpolate",
            fn("interpolate", where="nn"),
            self,
            size=tuple(size),
            mode=mode,
            align_corners=corners,
        )

    # attention
    def scaled_dot_product_attention(
        self: Any,
        key: Any,
        value: Any,
        attn_mask: Any = None,
        dropout_p: float = 0.0,
        is_causal: bool = False,
        enable_gqa: bool = False,
    ) -> Any:
        """``tcomp.nn.scaled_dot_product_attention``: PyTorch's arguments and causal mask."""
        if dropout_p:
            raise Unsupported("attention dropout", f"dropout_p={dropout_p}")
        return self._record(
            "scaled_dot_product_attention",
            fn("scaled_dot_product_attention", where="nn"),
            self,
            key,
            value,
            attn_mask=attn_mask,
            is_causal=is_causal,
            enable_gqa=enable_gqa,
        )

    # losses
    def cross_entropy(
        self: Any, Y: Any, reduction: str = "mean", label_smoothing: float = 0.0
    ) -> Any:
        return self._record(
            "cross_entropy",
            fn("cross_entropy", where="nn"),
            self,
            Y,
            reduction=reduction,
            label_smoothing=label_smoothing,
            axis=1 if self.ndim > 1 else -1,
        )

    def sparse_categorical_crossentropy(
        self: Any,
        Y: Any,
        ignore_index: int = -1,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> Any:
        return self._record(
            "cross_entropy",
            fn("cross_entropy", where="nn"),
            self,
            Y,
            ignore_index=ignore_index,
            reduction=reduction,
            label_smoothing=label_smoothing,
        )

    def nll_loss(
        self: Any, Y: Any, weight: Any = None, ignore_index: Any = None, reduction: str = "mean"
    ) -> Any:
        return self._record(
            "nll_loss",
            fn("nll_loss", where="nn"),
            self,
            Y,
            weight=weight,
            ignore_index=ignore_index,
            reduction=reduction,
            axis=1 if self.ndim > 1 else -1,
        )

    def binary_crossentropy(self: Any, Y: Any, reduction: str = "mean") -> Any:
        return self._record(
            "binary_cross_entropy",
            fn("binary_cross_entropy", where="nn"),
            self,
            Y,
            reduction=reduction,
        )

    def binary_crossentropy_logits(
        self: Any, Y: Any, reduction: str = "mean", pos_weight: Any = None
    ) -> Any:
        return self._record(
            "binary_cross_entropy_with_logits",
            fn("binary_cross_entropy_with_logits", where="nn"),
            self,
            Y,
            reduction=reduction,
            pos_weight=pos_weight,
        )

    def dropout(self: Any, p: float = 0.5) -> Any:
        raise Unsupported("dropout with a global random state", "tcomp.nn.dropout takes a key")
