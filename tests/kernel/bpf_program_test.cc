// kernel/bpf_program.h's Adopt, on this kernel: a loaded program's fd (dup'd, as a reexec hands
// it on) is taken and reads as the loaded one does; a file that is no BPF object, a BPF map
// and a program of another name are refused, the fd left open. Skipped, with the reason, where
// the programs cannot be loaded.
#include "kernel/bpf_program.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "common/unique_fd.h"
#include "kernel/shared_policy_iter.h"
#include "kernel/vma_policy_iter.h"

namespace khod {
namespace {

bool Open(int fd) { return ::fcntl(fd, F_GETFD) >= 0; }

// The fd of the process-wide iterator's program named `name`, loaded now if it is not yet;
// -1 with the reason in *why where it cannot be.
int KeptFd(const std::string& name, std::string* why) {
  if (name == "khod_shared_policy" && LoadedSharedPolicyIterator(why) == nullptr) return -1;
  if (name == "khod_vma_policy" && SharedVmaPolicyIterator(why) == nullptr) return -1;
  for (const auto& [n, fd] : KeptBpfPrograms())
    if (n == name) return fd;
  *why = name + " loaded but not noted as kept";
  return -1;
}

TEST(BpfProgramAdoptTest, TakesALoadedProgramsDupAndReadsWithIt) {
  std::string why;
  const int kept = KeptFd("khod_shared_policy", &why);
  if (kept < 0) GTEST_SKIP() << "the shared-policy program cannot load here: " << why;
  const int dup = ::fcntl(kept, F_DUPFD_CLOEXEC, 3);
  ASSERT_GE(dup, 0);
  Result<BpfProgram> p = BpfProgram::Adopt(dup, "khod_shared_policy");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->fd(), dup);
  EXPECT_EQ(p->name(), "khod_shared_policy");
  // Proven as Load proves it: a read of this process's own files decodes.
  Result<std::unique_ptr<SharedPolicyIterator>> it =
      SharedPolicyIterator::FromProgram(std::move(*p));
  ASSERT_TRUE(it.ok()) << it.status().ToString();
  EXPECT_TRUE((*it)->Read(::getpid()).ok());
  it->reset();
  EXPECT_FALSE(Open(dup)) << "the adopted fd outlived its program";
  EXPECT_TRUE(Open(kept));
}

TEST(BpfProgramAdoptTest, TakesTheVmaPolicyProgram) {
  std::string why;
  const int kept = KeptFd("khod_vma_policy", &why);
  if (kept < 0) GTEST_SKIP() << "the VMA policy program cannot load here: " << why;
  Result<BpfProgram> p = BpfProgram::Adopt(::fcntl(kept, F_DUPFD_CLOEXEC, 3), "khod_vma_policy");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Result<std::unique_ptr<VmaPolicyIterator>> it = VmaPolicyIterator::FromProgram(std::move(*p));
  EXPECT_TRUE(it.ok()) << it.status().ToString();
}

TEST(BpfProgramAdoptTest, RefusesAFileThatIsNoBpfObject) {
  UniqueFd memfd(static_cast<int>(::syscall(SYS_memfd_create, "not-bpf", MFD_CLOEXEC)));
  ASSERT_TRUE(memfd.valid());
  Result<BpfProgram> p = BpfProgram::Adopt(memfd.get(), "khod_shared_policy");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(p.status().message().find("not a BPF object"), std::string::npos)
      << p.status().message();
  EXPECT_TRUE(Open(memfd.get())) << "a refused fd was closed";
}

TEST(BpfProgramAdoptTest, RefusesABpfMapOfTheSameName) {
  std::string why;
  if (KeptFd("khod_shared_policy", &why) < 0)
    GTEST_SKIP() << "BPF programs cannot load here: " << why;
  UniqueFd map(bpf_map_create(BPF_MAP_TYPE_ARRAY, "khod_shared_pol", 4, 4, 1, nullptr));
  ASSERT_TRUE(map.valid()) << std::strerror(errno);
  Result<BpfProgram> p = BpfProgram::Adopt(map.get(), "khod_shared_policy");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("not a program"), std::string::npos) << p.status().message();
  EXPECT_TRUE(Open(map.get()));
}

TEST(BpfProgramAdoptTest, RefusesAProgramOfAnotherName) {
  std::string why;
  const int kept = KeptFd("khod_vma_policy", &why);
  if (kept < 0) GTEST_SKIP() << "the VMA policy program cannot load here: " << why;
  UniqueFd dup(::fcntl(kept, F_DUPFD_CLOEXEC, 3));
  Result<BpfProgram> p = BpfProgram::Adopt(dup.get(), "khod_shared_policy");
  ASSERT_FALSE(p.ok());
  // The kernel keeps 15 characters of a program's name.
  EXPECT_NE(p.status().message().find("is the BPF program 'khod_vma_policy', not "
                                      "'khod_shared_pol'"),
            std::string::npos)
      << p.status().message();
  EXPECT_TRUE(Open(dup.get()));
}

TEST(BpfProgramAdoptTest, TakeGivesAnOfferedProgramOnce) {
  std::string why;
  const int kept = KeptFd("khod_vma_policy", &why);
  if (kept < 0) GTEST_SKIP() << "the VMA policy program cannot load here: " << why;
  Result<BpfProgram> p = BpfProgram::Adopt(::fcntl(kept, F_DUPFD_CLOEXEC, 3), "khod_vma_policy");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  OfferAdoptedBpfProgram(std::move(*p));
  EXPECT_FALSE(TakeAdoptedBpfProgram("khod_shared_policy").has_value());
  EXPECT_TRUE(TakeAdoptedBpfProgram("khod_vma_policy").has_value());
  EXPECT_FALSE(TakeAdoptedBpfProgram("khod_vma_policy").has_value());
}

}  // namespace
}  // namespace khod
