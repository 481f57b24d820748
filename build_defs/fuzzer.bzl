"""khod_fuzzer: one fuzz target as a Bazel binary in every configuration."""

def khod_fuzzer(name, srcs, deps = []):
    """Defines <name>, a binary calling the LLVMFuzzerTestOneInput in srcs.

    With --config=fuzz (clang, .bazelrc) it links libFuzzer's own main; in every
    other configuration it links //fuzz:replay_main, which runs the target once
    on each file it is given (what tests/fuzz/fuzz_corpus_replay_test.cc does).
    """
    native.cc_library(
        name = name + "_target",
        srcs = srcs,
        deps = deps,
        alwayslink = True,
    )
    native.cc_binary(
        name = name,
        deps = [":" + name + "_target"] + select({
            "//fuzz:libfuzzer": [],
            "//conditions:default": ["//fuzz:replay_main"],
        }),
        linkopts = select({
            "//fuzz:libfuzzer": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
    )
