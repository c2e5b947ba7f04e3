"""Every library op rejects a bad size, dtype or option before building anything, with
an OpError (a ValueError) that names the op, the argument, what it expected and what came."""
import pytest

import schedules
from schedules.validate import OpError


def call(op, *args, **kwargs):
    return schedules.get(op)(*args, **kwargs)


def test_op_error_is_a_value_error():
    assert issubclass(OpError, ValueError)


def test_message_names_op_argument_expected_and_got():
    with pytest.raises(OpError) as e:
        call("dense", 4, 8, 0)
    assert str(e.value) == "dense: argument K: expected an int >= 1, got 0"


# -- dense, batch_matmul, matvec ------------------------------------------------------------

def test_dense_size_not_an_int():
    with pytest.raises(OpError, match=r"dense: argument M: expected an int >= 1, got 3\.5"):
        call("dense", 3.5, 8, 8)


def test_dense_integer_dtype():
    with pytest.raises(OpError, match=r"dense: argument dtype: expected one of float32, "
                                      r"float64, got 'int32'"):
        call("dense", 4, 8, 8, dtype="int32")


def test_dense_unknown_activation():
    with pytest.raises(OpError, match=r"dense: argument activation: expected one of None, "
                                      r"'relu', 'gelu_tanh', 'gelu_erf', got 'swish'"):
        call("dense", 4, 8, 8, activation="swish")


def test_dense_transpose_flag_not_a_bool():
    with pytest.raises(OpError, match=r"dense: argument transpose_b: expected True or False, "
                                      r"got 'yes'"):
        call("dense", 4, 8, 8, transpose_b="yes")


def test_dense_zero_tile():
    with pytest.raises(OpError, match=r"dense: argument bm: expected an int >= 1, got 0"):
        call("dense", 4, 8, 8, bm=0)


def test_dense_gpu_target():
    with pytest.raises(OpError, match=r"dense: argument target: expected a CPU target"):
        call("dense", 4, 8, 8, target="cuda")


def test_dense_bad_target_string():
    with pytest.raises(OpError, match=r"dense: argument target: expected a CPU target string"):
        call("dense", 4, 8, 8, target="llvm -mcpu=")


def test_batch_matmul_negative_batch():
    with pytest.raises(OpError, match=r"batch_matmul: argument batch: expected an int >= 1, "
                                      r"got -2"):
        call("batch_matmul", -2, 4, 4, 4)


def test_matvec_zero_columns():
    with pytest.raises(OpError, match=r"matvec: argument N: expected an int >= 1, got 0"):
        call("matvec", 4, 0)


def test_matvec_transpose_not_a_bool():
    with pytest.raises(OpError, match=r"matvec: argument transpose_a: expected True or False"):
        call("matvec", 4, 4, transpose_a=1)


# -- convolutions and pooling ----------------------------------------------------------------

def test_conv2d_groups_do_not_divide_channels():
    with pytest.raises(OpError, match=r"conv2d: argument groups: expected a divisor of C=6, "
                                      r"got 4"):
        call("conv2d", 1, 6, 8, 8, 8, 3, 3, groups=4)


def test_conv2d_groups_do_not_divide_filters():
    with pytest.raises(OpError, match=r"conv2d: argument groups: expected a divisor of K=9, "
                                      r"got 2"):
        call("conv2d", 1, 6, 8, 8, 9, 3, 3, groups=2)


def test_conv2d_unknown_layout():
    with pytest.raises(OpError, match=r"conv2d: argument layout: expected one of 'NCHW', "
                                      r"'NHWC', got 'NCWH'"):
        call("conv2d", 1, 4, 8, 8, 4, 3, 3, layout="NCWH")


def test_conv2d_kernel_larger_than_padded_input():
    with pytest.raises(OpError, match=r"conv2d: argument R, S: expected a dilated kernel that "
                                      r"fits the padded 4x4 input, got \(5, 5\)"):
        call("conv2d", 1, 4, 4, 4, 4, 5, 5)


def test_conv2d_negative_padding():
    with pytest.raises(OpError, match=r"conv2d: argument padding: expected an int >= 0, got -1"):
        call("conv2d", 1, 4, 8, 8, 4, 3, 3, padding=-1)


def test_conv2d_stride_triple():
    with pytest.raises(OpError, match=r"conv2d: argument stride: expected an int or a pair"):
        call("conv2d", 1, 4, 8, 8, 4, 3, 3, stride=(1, 2, 3))


def test_conv2d_tile_wrong_length():
    with pytest.raises(OpError, match=r"conv2d: argument tile: expected a tuple \(vector "
                                      r"blocks, rows, rows\)"):
        call("conv2d", 1, 4, 8, 8, 4, 3, 3, tile=(1, 2))


def test_conv2d_nhwc_tile_with_rows():
    with pytest.raises(OpError, match=r"conv2d: argument tile: expected \(vector blocks, 1, "
                                      r"rows\) for NHWC and the flat variant, got \(1, 2, 3\)"):
        call("conv2d", 1, 4, 8, 8, 4, 3, 3, layout="NHWC", tile=(1, 2, 3))


def test_conv2d_flat_variant_with_stride():
    with pytest.raises(OpError, match=r"conv2d: argument variant: expected 'flat' only with "
                                      r"layout NCHW and stride 1, got 'flat'"):
        call("conv2d", 1, 4, 8, 8, 4, 3, 3, stride=2, variant="flat")


def test_conv2d_unknown_variant():
    with pytest.raises(OpError, match=r"conv2d: argument variant: expected one of 'auto', "
                                      r"'rows', 'flat', got 'im2col'"):
        call("conv2d", 1, 4, 8, 8, 4, 3, 3, variant="im2col")


def test_conv2d_float16():
    with pytest.raises(OpError, match=r"conv2d: argument dtype: expected one of float32, "
                                      r"float64, int32, got 'float16'"):
        call("conv2d", 1, 4, 8, 8, 4, 3, 3, dtype="float16")


def test_depthwise_tile_not_whole_vectors():
    with pytest.raises(OpError, match=r"depthwise_conv2d: argument tile: expected \(rows, "
                                      r"columns\) with columns a multiple of \d+, got \(2, 5\)"):
        call("depthwise_conv2d", 1, 4, 8, 8, 3, 3, tile=(2, 5))


def test_depthwise_zero_multiplier():
    with pytest.raises(OpError, match=r"depthwise_conv2d: argument multiplier: expected an "
                                      r"int >= 1, got 0"):
        call("depthwise_conv2d", 1, 4, 8, 8, 3, 3, multiplier=0)


def test_pool_padding_over_half_the_window():
    with pytest.raises(OpError, match=r"max_pool2d: argument padding: expected at most half "
                                      r"the window \(1, 1\), got \(2, 2\)"):
        call("max_pool2d", 1, 4, 8, 8, 3, 3, padding=2)


def test_avg_pool_integer_dtype():
    with pytest.raises(OpError, match=r"avg_pool2d: argument dtype: expected one of float32, "
                                      r"float64, got 'int32'"):
        call("avg_pool2d", 1, 4, 8, 8, 2, 2, dtype="int32")


def test_avg_pool_count_include_pad_not_a_bool():
    with pytest.raises(OpError, match=r"avg_pool2d: argument count_include_pad: expected True "
                                      r"or False, got None"):
        call("avg_pool2d", 1, 4, 8, 8, 2, 2, count_include_pad=None)


def test_pool_unknown_kind():
    from schedules.pool import pool2d
    with pytest.raises(OpError, match=r"pool2d: argument kind: expected one of 'max', 'avg', "
                                      r"got 'l2'"):
        pool2d(1, 4, 8, 8, 2, 2, kind="l2")


# -- reductions ------------------------------------------------------------------------------

def test_reduce_axis_out_of_range():
    with pytest.raises(OpError, match=r"sum: argument axis: expected None, or ints in "
                                      r"\[-2, 2\), got 2"):
        call("sum", (4, 5), axis=2)


def test_reduce_repeated_axis():
    with pytest.raises(OpError, match=r"max: argument axis: expected distinct axes, "
                                      r"got \(1, -1\)"):
        call("max", (4, 5), axis=(1, -1))


def test_mean_of_integers():
    with pytest.raises(OpError, match=r"mean: argument dtype: expected one of float32, "
                                      r"float64, got 'int32'"):
        call("mean", (4, 5), dtype="int32")


def test_reduce_shape_with_zero():
    with pytest.raises(OpError, match=r"sum: argument shape: expected a tuple of positive ints, "
                                      r"got \(4, 0\)"):
        call("sum", (4, 0))


def test_reduce_keepdims_not_a_bool():
    with pytest.raises(OpError, match=r"min: argument keepdims: expected True or False"):
        call("min", (4, 5), keepdims="no")


def test_argmax_over_several_axes():
    with pytest.raises(OpError, match=r"argmax: argument axis: expected None or one int, "
                                      r"got \(0, 1\)"):
        call("argmax", (4, 5), axis=(0, 1))


# -- injective -------------------------------------------------------------------------------

def test_binary_shapes_do_not_broadcast():
    with pytest.raises(OpError, match=r"add: argument shape_b: expected a shape that broadcasts "
                                      r"with shape_a \(4, 5\), got \(4,\)"):
        call("add", (4, 5), (4,))


def test_unary_float_only_op_on_integers():
    with pytest.raises(OpError, match=r"exp: argument dtype: expected one of float32, float64, "
                                      r"got 'int32'"):
        call("exp", (4,), dtype="int32")


def test_transpose_axes_not_a_permutation():
    with pytest.raises(OpError, match=r"transpose: argument axes: expected a permutation of "
                                      r"range\(3\), got \(0, 0, 1\)"):
        call("transpose", (2, 3, 4), axes=(0, 0, 1))


def test_pad_negative_width():
    with pytest.raises(OpError, match=r"pad: argument pad_width: expected non-negative ints"):
        call("pad", (4, 5), ((1, -1), (0, 0)))


def test_pad_pairs_for_the_wrong_rank():
    with pytest.raises(OpError, match=r"pad: argument pad_width: expected 2 \(before, after\) "
                                      r"pairs, got \(\(1, 1\), \(1, 1\), \(1, 1\)\)"):
        call("pad", (4, 5), ((1, 1), (1, 1), (1, 1)))


def test_pad_value_not_a_number():
    with pytest.raises(OpError, match=r"pad: argument value: expected a number, got 'zero'"):
        call("pad", (4, 5), 1, value="zero")


def test_concatenate_mismatched_shapes():
    with pytest.raises(OpError, match=r"concatenate: argument shapes\[1\]: expected shapes\[0\] "
                                      r"\(2, 3\) except along axis 0, got \(2, 4\)"):
        call("concatenate", [(2, 3), (2, 4)], axis=0)


def test_concatenate_nothing():
    with pytest.raises(OpError, match=r"concatenate: argument shapes: expected a non-empty list"):
        call("concatenate", [])


def test_cast_to_unsupported_dtype():
    with pytest.raises(OpError, match=r"cast: argument out_dtype: expected one of .*float64, "
                                      r"got 'complex64'"):
        call("cast", (4,), out_dtype="complex64")


def test_layout_transform_unknown_layout():
    with pytest.raises(OpError, match=r"layout_transform: argument dst: expected 'NCHW', "
                                      r"'NHWC' or 'NCHW<b>c'"):
        call("layout_transform", (1, 4, 5, 5), src="NCHW", dst="CHWN")


def test_layout_transform_block_does_not_match_shape():
    with pytest.raises(OpError, match=r"layout_transform: argument shape: expected a last size "
                                      r"equal to the block 8 of NCHW8c, got \(1, 2, 5, 5, 4\)"):
        call("layout_transform", (1, 2, 5, 5, 4), src="NCHW8c", dst="NCHW")


def test_unknown_op():
    with pytest.raises(KeyError, match=r"unknown op 'conv3d'"):
        schedules.get("conv3d")
