"""Protobuf and gRPC C++ code generation with the system protoc (offline)."""

def proto_cc_library(name, src, visibility, grpc = False, deps = []):
    """Generates <src>.pb.{h,cc} (and .grpc.pb.{h,cc}) and wraps them in a cc_library.

    src is a .proto in the calling package; imports resolve from the repo root.
    visibility: who may use the cc_library (each message set has its owners).
    """
    base = src[:-len(".proto")]
    pkg = native.package_name()
    outs = [base + ".pb.h", base + ".pb.cc"]
    grpc_flags = ""
    if grpc:
        outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]
        grpc_flags = "--plugin=protoc-gen-grpc=$$(which grpc_cpp_plugin) --grpc_out=$(GENDIR) "
    native.genrule(
        name = name + "_gen",
        srcs = [src] + [d + "_src" for d in deps],
        outs = outs,
        cmd = "protoc -I. --cpp_out=$(GENDIR) " + grpc_flags + pkg + "/" + src,
    )
    native.filegroup(name = name + "_src", srcs = [src], visibility = visibility)
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = deps + ["//third_party:grpc" if grpc else "//third_party:protobuf"],
        visibility = visibility,
    )
