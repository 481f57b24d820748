// restore/gmem_restore.h: each way a frozen gmem comes back (held model,
// model, adopt, into a VMM's target, rebuild), chosen and carried out against
// a fake opener that records what it was asked.
#include "restore/gmem_restore.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "restore/kho_note.h"
#include "tests/support/fixture.h"

namespace khod {
namespace {

constexpr uint64_t kSize = 1 << 20;

class FakeSource : public GmemSource {
 public:
  explicit FakeSource(int* mapped_by) : mapped_by_(mapped_by) {}
  std::string Describe() const override { return "fake"; }
  Status Capture(const CaptureOptions&, GuestMemfd*) override { return Status::Ok(); }
  void UsePagesMappedBy(int pid) override { *mapped_by_ = pid; }

 private:
  int* mapped_by_;
};

// What the opener was asked, in order: "adopt <token> <name>", "rebuild <token>", ...
class FakeOpener : public GmemOpener {
 public:
  Result<TakenFile> TakeFromProcess(int pid, int fd) override {
    calls.push_back("take fd " + std::to_string(fd) + " of pid " + std::to_string(pid));
    return Status::Unsupported("not in these tests");
  }
  Result<std::unique_ptr<GmemHandle>> FromTaken(const GmemDeclaration& decl,
                                                const TakenFile&) override {
    calls.push_back("from taken " + std::to_string(decl.token));
    return Status::Unsupported("not in these tests");
  }
  Result<std::unique_ptr<GmemHandle>> Adopt(const GmemDeclaration& decl, int fd) override {
    calls.push_back("adopt " + std::to_string(decl.token) + " " + decl.name);
    struct stat st;
    if (::fstat(fd, &st) != 0) return Status::FromErrno("fstat", errno);
    adopted_inodes.push_back(st.st_ino);
    if (fail) return Status::IoError("fake opener refuses");
    std::unique_ptr<GmemHandle> h = Handle(static_cast<uint64_t>(st.st_size));
    h->fd = fd;
    owned_.push_back(fd);
    return h;
  }
  Result<std::unique_ptr<GmemHandle>> NewModel(const GmemDeclaration& decl,
                                               const ModelSpec&) override {
    calls.push_back("new model " + std::to_string(decl.token));
    return Status::Unsupported("not in these tests");
  }
  Result<std::unique_ptr<GmemHandle>> RestoreModel(const GuestMemfd& frozen) override {
    calls.push_back("restore model " + std::to_string(frozen.token));
    std::unique_ptr<GmemHandle> h = Handle(frozen.size);
    h->is_model = true;
    h->how = "MODEL";
    return h;
  }
  Result<std::unique_ptr<GmemHandle>> Rebuild(const GmemDeclaration& decl,
                                              const GuestMemfd& frozen) override {
    calls.push_back("rebuild " + std::to_string(decl.token) + " " + decl.name);
    rebuilt_with.push_back(frozen);
    if (fail) return Status::IoError("fake opener refuses");
    std::unique_ptr<GmemHandle> h = Handle(rebuilt_size ? rebuilt_size : frozen.size);
    h->fd = TestMemfd(0, "rebuilt").Release();
    owned_.push_back(h->fd);
    return h;
  }
  ~FakeOpener() override {
    for (int fd : owned_) ::close(fd);
  }

  std::unique_ptr<GmemHandle> Handle(uint64_t size) {
    auto h = std::make_unique<GmemHandle>();
    h->source = std::make_unique<FakeSource>(&mapped_by);
    h->size = size;
    return h;
  }

  std::vector<std::string> calls;
  std::vector<GuestMemfd> rebuilt_with;  // the `frozen` each Rebuild was given
  std::vector<ino_t> adopted_inodes;
  int mapped_by = -1;  // the last UsePagesMappedBy
  bool fail = false;
  uint64_t rebuilt_size = 0;  // 0: the frozen size

 private:
  std::vector<int> owned_;  // adopted and rebuilt fds: the opener's to close
};

GuestMemfd Frozen(uint64_t token, FileKind kind = FileKind::kGuestMemfd,
                  Provenance provenance = Provenance::kKernel) {
  GuestMemfd g;
  g.token = token;
  g.name = "frozen" + std::to_string(token);
  g.kind = kind;
  g.provenance = provenance;
  g.size = kSize;
  return g;
}

TestMemfd Memfd(uint64_t size = kSize) { return TestMemfd(size, "gmem"); }

ino_t InodeOf(int fd) {
  struct stat st;
  EXPECT_EQ(::fstat(fd, &st), 0);
  return st.st_ino;
}

// A MODEL guest of token `token` held by this process (the same one, no exec).
GmemHandle* HoldModel(FakeOpener* opener, uint64_t token,
                      std::map<uint64_t, std::unique_ptr<GmemHandle>>* held) {
  (*held)[token] = opener->Handle(kSize);
  (*held)[token]->is_model = true;
  return (*held)[token].get();
}

bool Contains(const std::vector<std::string>& notes, const std::string& part) {
  for (const std::string& n : notes)
    if (n.find(part) != std::string::npos) return true;
  return false;
}

TEST(ChooseGmemRestoreTest, EachWayIsChosenWhereItApplies) {
  const GuestMemfd kernel = Frozen(1);
  const GuestMemfd model = Frozen(2, FileKind::kGuestMemfd, Provenance::kModel);
  GmemRestoreChoice c;
  EXPECT_EQ(ChooseGmemRestore(kernel, c), GmemRestoreWay::kRebuild);
  c.target_offered = true;
  EXPECT_EQ(ChooseGmemRestore(kernel, c), GmemRestoreWay::kIntoTarget);
  c.have_fd = true;  // the carried file wins over an offer
  EXPECT_EQ(ChooseGmemRestore(kernel, c), GmemRestoreWay::kAdopt);
  c.force_rebuild = true;
  EXPECT_EQ(ChooseGmemRestore(kernel, c), GmemRestoreWay::kIntoTarget);
  c.target_offered = false;
  EXPECT_EQ(ChooseGmemRestore(kernel, c), GmemRestoreWay::kRebuild);
  // A MODEL guest never comes back any other way, whatever is offered.
  EXPECT_EQ(ChooseGmemRestore(model, c), GmemRestoreWay::kModel);
  c.held_model = true;
  EXPECT_EQ(ChooseGmemRestore(model, c), GmemRestoreWay::kHeldModel);
  EXPECT_STREQ(GmemRestoreWayName(GmemRestoreWay::kIntoTarget), "into target");
}

TEST(RestoreGmemsTest, CarriedFdIsAdoptedAsADupReadThroughTheHolder) {
  TestMemfd carried_file = Memfd();
  const int carried = carried_file.fd();
  Snapshot snap;
  snap.gmems.push_back(Frozen(7));
  GmemDeclaration d;
  d.token = 7;
  d.name = "declared7";
  GmemRestoreInputs in;
  in.declared[7] = d;
  in.carried[7] = carried;
  in.holder_pid = 4242;
  FakeOpener opener;
  Result<RestoredGmems> r = RestoreGmems(snap, in, &opener);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(opener.calls, std::vector<std::string>({"adopt 7 declared7"}));
  ASSERT_EQ(opener.adopted_inodes.size(), 1u);
  EXPECT_EQ(opener.adopted_inodes[0], InodeOf(carried));  // the same file
  ASSERT_EQ(r->handles.count(7), 1u);
  EXPECT_NE(r->handles[7]->fd, carried);  // a dup: the carried fd stays the caller's
  EXPECT_EQ(::fcntl(carried, F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(r->handles[7]->how, "adopted fd " + std::to_string(carried));
  EXPECT_EQ(opener.mapped_by, 4242);
  EXPECT_EQ(r->adopted, 1u);
  EXPECT_EQ(r->rebuilt + r->model, 0u);
  EXPECT_FALSE(r->handles[7]->new_memory);  // the file carried across
}

// A guest_memfd belongs to the VM it was made on (KVM refuses to bind it to
// another, gmem-6.18-facts.md): an adopted one says so, a memfd does not.
TEST(RestoreGmemsTest, AnAdoptedGuestMemfdSaysItIsStillItsVmsAndAMemfdDoesNot) {
  TestMemfd gmem_file = Memfd(), memfd_file = Memfd();
  Snapshot snap;
  snap.gmems.push_back(Frozen(7));
  snap.gmems.push_back(Frozen(8, FileKind::kShmemMemfd));
  GmemRestoreInputs in;
  in.carried[7] = gmem_file.fd();
  in.carried[8] = memfd_file.fd();
  FakeOpener opener;
  Result<RestoredGmems> r = RestoreGmems(snap, in, &opener);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(Contains(r->notes,
                       "gmem 7: adopted: the same file, still the guest_memfd of the VM "
                       "it was made on"));
  EXPECT_TRUE(Contains(r->notes, "a new VM cannot bind it"));
  EXPECT_FALSE(Contains(r->notes, "gmem 8: adopted"));
}

// After a reexec (same boot) a carried fd is the very file Attach took: one
// of another inode than the record's is refused before anything is adopted
// (warm or not), naming both inodes. Without recorded inodes (LUO: a kexec
// gives new ones) nothing is compared.
TEST(RestoreGmemsTest, ACarriedFileOfAnotherInodeThanAttachedIsRefusedNamingBoth) {
  TestMemfd carried_file = Memfd(), attached_file = Memfd();
  const int carried = carried_file.fd();
  const uint64_t carried_ino = InodeOf(carried), attached_ino = InodeOf(attached_file.fd());
  Snapshot snap;
  snap.gmems.push_back(Frozen(7));
  FakeOpener opener;
  std::map<uint64_t, WarmGmem> warming;
  warming[7] = WarmGmem{carried, opener.Handle(kSize)};
  GmemRestoreInputs in;
  in.carried[7] = carried;
  in.warming = &warming;
  in.carried_inodes[7] = attached_ino;
  Result<RestoredGmems> r = RestoreGmems(snap, in, &opener);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kFailedPrecondition);
  const std::string want = "Restore gmem 7: the carried fd " + std::to_string(carried) +
                           " is inode " + std::to_string(carried_ino) + ", not inode " +
                           std::to_string(attached_ino) + " recorded at Attach";
  EXPECT_NE(r.status().message().find(want), std::string::npos) << r.status().message();
  EXPECT_TRUE(opener.calls.empty());
  EXPECT_EQ(warming.count(7), 1u);  // not taken
  // Refused also without a warm handle, before the opener is asked.
  in.warming = nullptr;
  EXPECT_EQ(RestoreGmems(snap, in, &opener).status().code(), Status::Code::kFailedPrecondition);
  EXPECT_TRUE(opener.calls.empty());
  // The recorded inode: adopted.
  in.carried_inodes[7] = carried_ino;
  r = RestoreGmems(snap, in, &opener);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->adopted, 1u);
  // Nothing recorded for it (LUO, or a record without inodes): not compared.
  in.carried_inodes.clear();
  in.carried[7] = attached_file.fd();
  EXPECT_TRUE(RestoreGmems(snap, in, &opener).ok());
}

TEST(RestoreGmemsTest, WarmHandleIsTakenOnlyForTheSameCarriedFd) {
  TestMemfd carried_file = Memfd();
  const int carried = carried_file.fd();
  Snapshot snap;
  snap.gmems.push_back(Frozen(1));
  snap.gmems.push_back(Frozen(2));
  FakeOpener opener;
  std::map<uint64_t, WarmGmem> warming;
  warming[1] = WarmGmem{carried, opener.Handle(kSize)};
  GmemHandle* warm1 = warming[1].handle.get();
  warming[2] = WarmGmem{carried + 1000, opener.Handle(kSize)};  // another fd than carried
  GmemRestoreInputs in;
  in.carried[1] = carried;
  in.carried[2] = carried;
  in.warming = &warming;
  Result<RestoredGmems> r = RestoreGmems(snap, in, &opener);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->handles[1].get(), warm1);
  EXPECT_EQ(opener.calls, std::vector<std::string>({"adopt 2 frozen2"}));  // from the snapshot
  EXPECT_EQ(warming.count(1), 0u);
  EXPECT_EQ(warming.count(2), 1u);  // not taken: the caller lets it go
  EXPECT_EQ(r->adopted, 2u);
}

// One frozen gmem `token` that came with a carried fd and for which the VMM
// also offers a target of its own.
struct CarriedAndOffered {
  explicit CarriedAndOffered(uint64_t token)
      : carried_file(Memfd()), carried(carried_file.fd()), offered(Memfd().Release()) {
    snap.gmems.push_back(Frozen(token));
    targets[token] = RebuildTarget{UniqueFd(offered), "guest_memfd fd 9 of pid 77 (VM 1)"};
    in.carried[token] = carried;
    in.targets = &targets;
  }
  TestMemfd carried_file;
  const int carried, offered;
  Snapshot snap;
  std::map<uint64_t, RebuildTarget> targets;
  GmemRestoreInputs in;
};

TEST(RestoreGmemsTest, AnOfferBesideACarriedFdIsNotUsedAndSaysSo) {
  CarriedAndOffered g(3);
  FakeOpener opener;
  Result<RestoredGmems> r = RestoreGmems(g.snap, g.in, &opener);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(opener.adopted_inodes, std::vector<ino_t>({InodeOf(g.carried)}));
  EXPECT_TRUE(Contains(r->notes,
                       "gmem 3: the offered guest_memfd fd 9 of pid 77 (VM 1) is not "
                       "used, the carried fd was adopted"));
  EXPECT_EQ(g.targets[3].fd.get(), g.offered);  // still the caller's
}

TEST(RestoreGmemsTest, ForcedRebuildGoesIntoTheOfferedTarget) {
  CarriedAndOffered g(4);
  const ino_t offered_inode = InodeOf(g.offered);
  g.in.force_rebuild = true;
  FakeOpener opener;
  Result<RestoredGmems> r = RestoreGmems(g.snap, g.in, &opener);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(opener.adopted_inodes, std::vector<ino_t>({offered_inode}));
  EXPECT_EQ(r->handles[4]->how, "rebuilt into the VMM's guest_memfd fd 9 of pid 77 (VM 1)");
  EXPECT_TRUE(r->handles[4]->new_memory);
  EXPECT_FALSE(g.targets[4].fd.valid());  // handed to the opener
  EXPECT_EQ(r->rebuilt, 1u);
  EXPECT_EQ(r->adopted, 0u);
}

TEST(RestoreGmemsTest, RebuildOfAGuestMemfdTellsTheVmmToOfferOneAndAMemfdsDoesNot) {
  Snapshot snap;
  snap.gmems.push_back(Frozen(5));
  snap.gmems.push_back(Frozen(6, FileKind::kShmemMemfd));
  GmemRestoreInputs in;
  FakeOpener opener;
  Result<RestoredGmems> r = RestoreGmems(snap, in, &opener);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(opener.calls, std::vector<std::string>({"rebuild 5 frozen5", "rebuild 6 frozen6"}));
  EXPECT_EQ(r->handles[5]->how, "rebuilt");
  EXPECT_TRUE(r->handles[5]->new_memory);
  EXPECT_TRUE(r->handles[6]->new_memory);
  EXPECT_EQ(r->rebuilt, 2u);
  EXPECT_TRUE(Contains(r->notes, "gmem 5: rebuilt on a VM of khod's own"));
  EXPECT_FALSE(Contains(r->notes, "gmem 6: rebuilt on a VM"));
}

// A guest_memfd as a 6.18 capture records an MMAP|INIT_SHARED file none of
// whose pages was used: MMAP observed, INIT_SHARED not (it would read the same
// for a file made MMAP alone).
GuestMemfd MmapSeenInitSharedNot(uint64_t token) {
  GuestMemfd g = Frozen(token);
  g.flags = 1;        // MMAP
  g.flags_known = 1;  // INIT_SHARED not observed
  return g;
}

// A rebuild never creates a guest_memfd with a flag it guessed: one that
// would need a bit neither declared nor observed refuses the restore before
// any gmem is touched (the carried one is not adopted, the held MODEL guest
// stays held), naming the gmem, the bit and the way out.
TEST(RestoreGmemsTest, ARebuildWithAFlagNeitherDeclaredNorObservedIsRefusedBeforeAnything) {
  TestMemfd carried_file = Memfd();
  Snapshot snap;
  snap.gmems.push_back(Frozen(1, FileKind::kGuestMemfd, Provenance::kModel));
  snap.gmems.push_back(Frozen(2));  // carried: adopted
  snap.gmems.push_back(MmapSeenInitSharedNot(3));
  FakeOpener opener;
  std::map<uint64_t, std::unique_ptr<GmemHandle>> held;
  GmemHandle* model1 = HoldModel(&opener, 1, &held);
  GmemRestoreInputs in;
  in.held = &held;
  in.carried[2] = carried_file.fd();
  Result<RestoredGmems> r = RestoreGmems(snap, in, &opener);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kFailedPrecondition);
  const std::string& why = r.status().message();
  EXPECT_NE(why.find("Restore: gmem 3 ('frozen3'): not rebuilt: a new guest_memfd would need "
                     "INIT_SHARED, neither declared at Attach nor observed by the capture"),
            std::string::npos)
      << why;
  EXPECT_NE(why.find("rebuild_into"), std::string::npos) << why;
  EXPECT_NE(why.find("gmem_flags"), std::string::npos) << why;
  EXPECT_TRUE(opener.calls.empty());
  ASSERT_EQ(held.count(1), 1u);
  EXPECT_EQ(held[1].get(), model1);
  // A declaration of 0 declares nothing: still refused.
  GmemDeclaration d;
  d.token = 3;
  d.name = "declared3";
  in.declared[3] = d;
  EXPECT_EQ(RestoreGmems(snap, in, &opener).status().code(), Status::Code::kFailedPrecondition);
  EXPECT_TRUE(opener.calls.empty());
}

// The flags the VMM declared at Attach (the record's) complete what the
// capture did not observe, and the opener is asked for exactly those.
TEST(RestoreGmemsTest, ARebuildCreatesTheDeclaredFlagsWhereTheCaptureSawNone) {
  Snapshot snap;
  snap.gmems.push_back(MmapSeenInitSharedNot(3));
  for (uint64_t declared : {uint64_t{1}, uint64_t{3}}) {
    GmemDeclaration d;
    d.token = 3;
    d.name = "declared3";
    d.gmem_flags = declared;
    GmemRestoreInputs in;
    in.declared[3] = d;
    FakeOpener opener;
    Result<RestoredGmems> r = RestoreGmems(snap, in, &opener);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(opener.calls, std::vector<std::string>({"rebuild 3 declared3"}));
    ASSERT_EQ(opener.rebuilt_with.size(), 1u);
    EXPECT_EQ(opener.rebuilt_with[0].flags, declared);
    EXPECT_EQ(opener.rebuilt_with[0].flags_known & 3u, 3u);
    EXPECT_EQ(opener.rebuilt_with[0].size, kSize);
    EXPECT_EQ(r->rebuilt, 1u);
  }
  // A declaration the capture contradicts (MMAP observed set, declared clear): refused.
  GmemDeclaration d;
  d.token = 3;
  d.gmem_flags = 2;
  GmemRestoreInputs in;
  in.declared[3] = d;
  FakeOpener opener;
  Result<RestoredGmems> r = RestoreGmems(snap, in, &opener);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("contradict"), std::string::npos) << r.status().message();
  EXPECT_TRUE(opener.calls.empty());
}

// The unknown flag matters only to a rebuild khod makes: the file the
// carried fd holds, or one the VMM offered, is taken as it is.
TEST(RestoreGmemsTest, UnknownFlagsDoNotStopAnAdoptOrARebuildIntoAnOffer) {
  {
    TestMemfd carried_file = Memfd();
    Snapshot snap;
    snap.gmems.push_back(MmapSeenInitSharedNot(3));
    GmemRestoreInputs in;
    in.carried[3] = carried_file.fd();
    FakeOpener opener;
    Result<RestoredGmems> r = RestoreGmems(snap, in, &opener);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->adopted, 1u);
  }
  CarriedAndOffered g(3);
  g.snap.gmems[0] = MmapSeenInitSharedNot(3);
  g.in.force_rebuild = true;
  FakeOpener opener;
  Result<RestoredGmems> r = RestoreGmems(g.snap, g.in, &opener);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->handles[3]->how, "rebuilt into the VMM's guest_memfd fd 9 of pid 77 (VM 1)");
  EXPECT_TRUE(opener.rebuilt_with.empty());
}

TEST(RestoreGmemsTest, SameProcessAdoptsItsOwnAttachedFileWhenNothingWasCarried) {
  TestMemfd own_file = Memfd();
  const int own = own_file.fd();
  Snapshot snap;
  snap.gmems.push_back(Frozen(8));
  FakeOpener opener;
  std::map<uint64_t, std::unique_ptr<GmemHandle>> held;
  held[8] = opener.Handle(kSize);
  held[8]->fd = own;
  GmemRestoreInputs in;
  in.held = &held;
  in.holder_pid = 4242;
  Result<RestoredGmems> r = RestoreGmems(snap, in, &opener);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(opener.adopted_inodes, std::vector<ino_t>({InodeOf(own)}));
  EXPECT_EQ(opener.mapped_by, -1);  // not carried: read as it is, not through a holder
  EXPECT_EQ(held.count(8), 1u);     // still attached
}

TEST(RestoreGmemsTest, HeldModelIsTakenAndGivenBackWhenALaterGmemIsRefused) {
  Snapshot snap;
  snap.gmems.push_back(Frozen(1, FileKind::kGuestMemfd, Provenance::kModel));
  snap.gmems.push_back(Frozen(2, FileKind::kGuestMemfd, Provenance::kModel));
  snap.gmems.push_back(Frozen(3));
  FakeOpener opener;
  std::map<uint64_t, std::unique_ptr<GmemHandle>> held;
  GmemHandle* model1 = HoldModel(&opener, 1, &held);
  GmemRestoreInputs in;
  in.held = &held;
  {
    Result<RestoredGmems> r = RestoreGmems(snap, in, &opener);  // gmem 3 rebuilds
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->handles[1].get(), model1);
    EXPECT_EQ(r->from_held, std::vector<uint64_t>({1}));
    EXPECT_EQ(held.count(1), 0u);
    EXPECT_EQ(r->model, 2u);
    EXPECT_EQ(r->rebuilt, 1u);
    std::map<uint64_t, WarmGmem> no_warming;
    GiveBackTaken(&*r, &held, &no_warming);  // the restore did not stand
    EXPECT_EQ(held[1].get(), model1);
  }
  EXPECT_EQ(opener.calls, std::vector<std::string>({"restore model 2", "rebuild 3 frozen3"}));
  opener.fail = true;
  Result<RestoredGmems> refused = RestoreGmems(snap, in, &opener);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("Restore gmem 3"), std::string::npos)
      << refused.status().ToString();
  EXPECT_EQ(held[1].get(), model1);  // back where it was
}

TEST(RestoreGmemsTest, AFileOfAnotherSizeRefusesTheRestoreAndGivesBackTheHeldModel) {
  Snapshot snap;
  snap.gmems.push_back(Frozen(1, FileKind::kGuestMemfd, Provenance::kModel));
  snap.gmems.push_back(Frozen(2));
  FakeOpener opener;
  opener.rebuilt_size = kSize / 2;
  std::map<uint64_t, std::unique_ptr<GmemHandle>> held;
  HoldModel(&opener, 1, &held);
  GmemRestoreInputs in;
  in.held = &held;
  Result<RestoredGmems> r = RestoreGmems(snap, in, &opener);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("Restore gmem 2: size 524288 but the snapshot says 1048576"),
            std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(held.count(1), 1u);
}

// The held MODEL guest itself of another size: refused, and still held (it
// used to be lost, taken out of `held` and never given back).
TEST(RestoreGmemsTest, AHeldModelOfAnotherSizeIsRefusedAndStaysHeld) {
  Snapshot snap;
  snap.gmems.push_back(Frozen(1, FileKind::kGuestMemfd, Provenance::kModel));
  FakeOpener opener;
  std::map<uint64_t, std::unique_ptr<GmemHandle>> held;
  held[1] = opener.Handle(kSize / 2);
  held[1]->is_model = true;
  GmemHandle* model1 = held[1].get();
  GmemRestoreInputs in;
  in.held = &held;
  Result<RestoredGmems> r = RestoreGmems(snap, in, &opener);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("Restore gmem 1: size 524288"), std::string::npos)
      << r.status().ToString();
  ASSERT_EQ(held.count(1), 1u);
  EXPECT_EQ(held[1].get(), model1);
}

TEST(RestoreGmemsTest, APolicyResetByTheTransportIsNotSaidToBeKept) {
  TestMemfd carried_file = Memfd();
  const int carried = carried_file.fd();
  GuestMemfd g = Frozen(9, FileKind::kShmemMemfd);
  g.policy_source = PolicySource::kInode;
  g.policy.mode = 1;  // MPOL_PREFERRED
  g.policy.nodemask = {1};
  Snapshot snap;
  snap.gmems.push_back(g);
  GmemRestoreInputs in;
  in.carried[9] = carried;
  FakeOpener opener;
  Result<RestoredGmems> kept = RestoreGmems(snap, in, &opener);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  // Adopted as it is: nothing re-applied, and the carried file (never mbound) is not said to
  // keep the frozen policy (restore/policy_restore.h: "kept" only as read back).
  EXPECT_NE(kept->handles[9]->policy.outcome, PolicyRestore::Outcome::kKept);
  EXPECT_TRUE(Contains(kept->notes, "gmem 9: NUMA policy")) << kept->notes.size();
  EXPECT_FALSE(Contains(kept->notes, "kept by the adopted file"));
  EXPECT_FALSE(Contains(kept->notes, "re-applied to the file"));
  in.carried_resets_mempolicy = true;
  Result<RestoredGmems> reset = RestoreGmems(snap, in, &opener);
  ASSERT_TRUE(reset.ok()) << reset.status().ToString();
  EXPECT_NE(reset->handles[9]->policy.outcome, PolicyRestore::Outcome::kKept);
  EXPECT_FALSE(Contains(reset->notes, "kept by the adopted file"));
}

TEST(KhoNoteForRestoreTest, ATreeIsReportedNoneIsExplainedOrWarnedOf) {
  KhoRestoreNote tree = KhoNoteForRestore("KHO incoming: 3 nodes", true, false, "/dbg");
  EXPECT_EQ(tree.text, "KHO incoming: 3 nodes");
  EXPECT_TRUE(tree.warning.empty());
  KhoRestoreNote here = KhoNoteForRestore("no KHO incoming tree", false, true, "/dbg");
  EXPECT_EQ(here.text,
            "no KHO incoming tree (no kexec happened: this khod made the handover itself)");
  EXPECT_TRUE(here.warning.empty());
  KhoRestoreNote none = KhoNoteForRestore("no KHO incoming tree", false, false, "/dbg");
  EXPECT_NE(none.warning.find("no KHO incoming tree under /dbg/kho/in"), std::string::npos);
  EXPECT_NE(none.warning.find("debugfs mounted at /dbg?"), std::string::npos);
  EXPECT_EQ(none.text, "no KHO incoming tree; " + none.warning);
}

}  // namespace
}  // namespace khod
