// The ELF object of kernel/bpf/vma_policy.bpf.c, compiled by clang when khod is built
// (kernel/bpf/BUILD) and embedded as bytes: kernel/vma_policy_iter.cc loads it with libbpf,
// which relocates it (CO-RE) against the running kernel's BTF.
#ifndef KHOD_KERNEL_BPF_VMA_POLICY_PROGRAM_H_
#define KHOD_KERNEL_BPF_VMA_POLICY_PROGRAM_H_

#include <cstddef>

namespace khod {

extern const unsigned char kVmaPolicyBpfObject[];
extern const size_t kVmaPolicyBpfObjectSize;

}  // namespace khod

#endif  // KHOD_KERNEL_BPF_VMA_POLICY_PROGRAM_H_
