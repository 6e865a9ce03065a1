"""Shape grids shared by the gradient checks and the nested-loop forward references."""

# (N, C, H, W), (OC, KH, KW), stride, padding, groups, bias
CONV_CASES = {
    "k3_s1_p1":            ((2, 3, 7, 6), (5, 3, 3), 1, 1, 1, True),
    "k3_s2_p0":            ((1, 3, 8, 7), (2, 3, 3), 2, 0, 1, True),
    "k1_s1_p0":            ((2, 3, 5, 6), (5, 1, 1), 1, 0, 1, True),
    "k1_s2_p2":            ((1, 3, 5, 4), (2, 1, 1), 2, 2, 1, False),
    "k5_s2_p2":            ((1, 3, 9, 8), (2, 5, 5), 2, 2, 1, True),
    "k11_s4_p2_alexnet":   ((1, 1, 11, 14), (2, 11, 11), 4, 2, 1, True),
    "k3_s4_p1":            ((2, 3, 7, 5), (3, 3, 3), 4, 1, 1, True),
    "k3x2_nonsquare":      ((2, 5, 5, 4), (3, 3, 2), 1, 0, 1, True),
    "stride_pair":         ((1, 3, 7, 9), (2, 3, 3), (2, 1), 1, 1, True),
    "padding_pair":        ((1, 3, 5, 6), (2, 3, 3), 1, (2, 0), 1, True),
    "padding_asymmetric":  ((2, 3, 6, 5), (2, 3, 3), (2, 1), ((1, 2), (0, 1)), 1, True),
    "tf_same_even_kernel": ((1, 3, 6, 6), (2, 2, 2), 1, ((0, 1), (0, 1)), 1, False),
    "groups2_k3_p1":       ((2, 4, 6, 5), (6, 3, 3), 1, 1, 2, True),
    "groups2_asym_s2":     ((1, 6, 7, 7), (4, 3, 3), 2, ((0, 1), (1, 0)), 2, True),
    "groups2_k1":          ((2, 6, 3, 4), (2, 1, 1), 1, 0, 2, False),
    "whole_input_c5":      ((3, 4, 3, 5), (5, 3, 5), 1, 0, 1, True),   # fully connected
    "whole_input_s2":      ((2, 2, 4, 4), (3, 4, 4), 2, 0, 1, False),
    "small_map_2x2":       ((2, 3, 2, 2), (4, 3, 3), 1, 1, 1, True),   # dense matrix of taps
    "small_map_s2_asym":   ((2, 3, 2, 3), (4, 3, 3), 2, ((0, 1), (1, 1)), 1, False),
}

# (N, C, H, W), kernel_size, stride, padding
POOL_CASES = {
    "k2_default_stride":   ((2, 3, 6, 4), 2, None, 0),
    "k3_s2_overlapping":   ((2, 3, 7, 7), 3, 2, 0),
    "k3_s2_p1_overlap":    ((1, 5, 6, 7), 3, 2, 1),
    "k3_s1_p1":            ((1, 3, 5, 6), 3, 1, 1),
    "k2x3_stride_pair":    ((2, 3, 6, 7), (2, 3), (1, 2), 0),
    "k5_s4_p2":            ((1, 2, 9, 11), 5, 4, 2),
    "k1_s1":               ((2, 3, 3, 4), 1, 1, 0),
    "k3_padding_pair":     ((1, 3, 6, 5), 3, 2, (1, 0)),
    "padding_asymmetric":  ((2, 3, 6, 5), 2, 2, ((0, 1), (1, 0))),
    "k11_s4_batch1":       ((1, 1, 13, 12), 11, 4, 1),
}
