// The ELF object of kernel/bpf/shared_policy.bpf.c, compiled by clang when khod is built
// (kernel/bpf/BUILD) and embedded as bytes: kernel/shared_policy_iter.cc loads it with libbpf,
// which relocates it (CO-RE) against the running kernel's BTF.
#ifndef KHOD_KERNEL_BPF_SHARED_POLICY_PROGRAM_H_
#define KHOD_KERNEL_BPF_SHARED_POLICY_PROGRAM_H_

#include <cstddef>

namespace khod {

extern const unsigned char kSharedPolicyBpfObject[];
extern const size_t kSharedPolicyBpfObjectSize;

}  // namespace khod

#endif  // KHOD_KERNEL_BPF_SHARED_POLICY_PROGRAM_H_
