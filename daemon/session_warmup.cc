// Session warm-ups: work started ahead so that it is not paid inside the
// blackout. On the new side of a reexec, the adopted files are populated and
// the handover blob is read, checked and decoded while gRPC starts (Restore
// takes the results); on the old side, Freeze's blob buffer is faulted in at
// Prepare. None of it is relied on: Restore and Verify check what they use.
// After Verify, what the handover lent it is let go after its reply.
#include <fcntl.h>

#include <chrono>
#include <future>
#include <system_error>

#include "common/huge_page_allocator.h"
#include "daemon/session.h"
#include "daemon/session_declarations.h"
#include "serializer/serializer.h"

namespace khod {

// Populating a fresh mapping of an adopted file, started now, overlaps gRPC
// startup and Restore instead of adding to Verify. Only a warm-up: Verify's
// capture waits for it and reads every PFN itself. The files are opened on
// a thread of their own as well: with a hundred of them that is about a
// millisecond of the blackout (docs/PERFORMANCE.md, "Many VMs").
void Session::StartWarmUps() {
  if (!ReexecHandoverToRestore()) return;
  std::vector<AdoptJob> jobs;
  for (const auto& [token, fd] : opts_.adopted.fds) {
    const v1::GmemAttachment* a = nullptr;
    for (const auto& x : record_.gmems())
      if (x.token() == token && !x.is_model()) a = &x;
    if (!a) continue;
    AdoptJob j;
    j.token = token;
    j.fd = fd;
    j.declaration = DeclarationOf(*a);
    if (auto p = page_pins_.find(token); p != page_pins_.end()) {
      j.pins = std::move(p->second);
      page_pins_.erase(p);
    }
    jobs.push_back(std::move(j));
  }
  if (jobs.empty()) return;
  const int holder_pid = holder_.held() ? holder_.pid() : -1;
  // std::async takes only the pointer: a thread it cannot start leaves the jobs here.
  auto pending = std::make_shared<std::vector<AdoptJob>>(std::move(jobs));
  GmemOpener* opener = opener_;
  try {
    if (opts_.warm_up_thread_fails_for_test)
      throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again),
                              "no thread for the warm-up (test fault)");
    adopting_ = std::async(std::launch::async, [opener, pending, holder_pid] {
      return AdoptForWarmUp(opener, std::move(*pending), holder_pid);
    });
  } catch (const std::system_error&) {
    warming_ = AdoptForWarmUp(opener, std::move(*pending), holder_pid);  // no thread: here
  }
}

std::map<uint64_t, WarmGmem> Session::AdoptForWarmUp(GmemOpener* opener, std::vector<AdoptJob> jobs,
                                                     int holder_pid) {
  std::map<uint64_t, WarmGmem> warming;
  for (AdoptJob& j : jobs) {
    // A file that fails here (even by an exception: no memory, no thread for
    // its warm-up) is only not warm: Restore adopts it itself, as without one.
    try {
      const int dup = ::fcntl(j.fd, F_DUPFD_CLOEXEC, 3);
      if (dup < 0) continue;  // Restore meets the same error and reports it
      Result<std::unique_ptr<GmemHandle>> h = opener->Adopt(j.declaration, dup);
      if (!h.ok()) continue;
      if (holder_pid > 0) (*h)->source->UsePagesMappedBy(holder_pid);
      if (!j.pins.empty()) {
        Result<PagePin> pins = PagePin::Adopt(std::move(j.pins));
        if (pins.ok())
          (*h)->source->AdoptPins(std::move(*pins));
        else
          std::fprintf(stderr, "khod: gmem %llu: page pins not used: %s\n",
                       static_cast<unsigned long long>(j.token), pins.status().ToString().c_str());
      }
      (*h)->source->StartWarmUp();
      warming[j.token] = WarmGmem{j.fd, std::move(*h)};
    } catch (const std::exception& e) {
      std::fprintf(stderr, "khod: gmem %llu: not warmed up ahead of Restore: %s\n",
                   static_cast<unsigned long long>(j.token), e.what());
    }
  }
  return warming;
}

void Session::JoinAdoption() {
  if (!adopting_.valid()) return;
  try {
    warming_ = adopting_.get();
  } catch (const std::exception& e) {
    // Nothing warm, nothing lost: Restore adopts every file itself.
    std::fprintf(stderr, "khod: the adopted files were not warmed up: %s\n", e.what());
  }
}

void Session::StartReadAhead() {
  if (!ReexecHandoverToRestore() || opts_.adopted.empty() || !transport_) return;
  read_ahead_ = std::async(std::launch::async, &Session::ReadAheadFrom, transport_.get(), Codec(),
                           CodecThreads(), RecordedFrozenBlobXxh3());
}

Session::ReadAhead Session::ReadAheadFrom(HandoverTransport* t, CodecOptions codec, int threads,
                                          std::optional<uint64_t> recorded) {
  ReadAhead a;
  a.received = t->Receive();
  if (!a.received.ok()) return a;
  // The record's checksum is the decode's check of the bytes (beside it),
  // instead of the blob's own: one pass over them, not two. With none
  // recorded, Restore compares nothing and the blob's own checksum is it.
  codec.recorded_xxh3 = recorded;
  a.decoded = DecodeAny(a.received->blob_bytes(), &a.snap, nullptr, codec);
  if (a.decoded.ok()) a.xxh3 = recorded;
  // Each list's facts (state/folio_list.h) and RescanBase, which Verify's
  // capture and counts read, worked out here beside the restore rather than
  // in Verify.
  if (a.decoded.ok())
    for (const GuestMemfd& g : a.snap.gmems)
      if (g.folios.facts().well_formed) a.rescan_bases[g.token] = MakeRescanBase(g.folios, threads);
  a.have_snap = true;
  return a;
}

void Session::ReleaseLentHoldsAfterReply() {
  if (release_after_reply_.valid() &&
      release_after_reply_.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
    return;  // still waiting for mu_: it releases this Verify's holds too
  try {
    release_after_reply_ = std::async(std::launch::async, [this] {
      if (opts_.before_release_after_reply) opts_.before_release_after_reply();
      std::lock_guard<std::mutex> l(mu_);
      ReleaseLentHolds();
    });
  } catch (const std::system_error&) {
    ReleaseLentHolds();  // no thread to be had: before the reply, as it was
  }
}

// The old address space is freed in the background (its teardown,
// docs/PERFORMANCE.md "Where the session's warm-ups come from", is not
// inside the blackout), and the kernel unpins off this thread.
void Session::ReleaseLentHolds() {
  ReleaseMappingHolder();
  for (auto& kv : restored_)
    if (kv.second->source) kv.second->source->ReleasePinsInBackground();
}

void Session::WaitForReleaseAfterReply() {
  std::future<void> pending;
  {
    std::lock_guard<std::mutex> l(mu_);
    pending = std::move(release_after_reply_);
  }
  if (pending.valid()) pending.wait();
}

bool Session::holds_mapping_holder() const {
  std::lock_guard<std::mutex> l(mu_);
  return holder_.held();
}

void Session::ReleaseMappingHolder() {
  previous_witness_.reset();  // the previous khod's keeper: its address space too
  if (!holder_.held()) return;
  for (auto& kv : restored_)
    if (kv.second->source) kv.second->source->UsePagesMappedBy(-1);
  JoinAdoption();
  warming_.clear();
  holder_.Release();
}

// Freeze's capture has the prepared one's extents, give or take what moved
// since, plus a content hash per extent where hashed. A record is 24 bytes in
// an FDT and at most 28 in a proto (a hash: two varints and 8 bytes); an
// eighth more for what moves, and headers and names in 64 KiB. A Freeze in
// the other format, or one that outgrows it, only reallocates.
void Session::PrewarmFreezeBlob(const Snapshot& prepared) {
  size_t records = 0;
  for (const GuestMemfd& g : prepared.gmems) {
    bool hashed = false;
    for (const auto& a : record_.gmems())
      if (a.token() == g.token) hashed = a.hash_contents();
    records += g.folios.size() * (hashed ? 2 : 1) + g.attributes.Ranges().size() +
               g.restructures.size() * 8;
  }
  const size_t per_record = opts_.default_format == v1::PROTO ? 28 : 24;
  const size_t bytes = (records + records / 8) * per_record + (size_t{64} << 10);
  if (freeze_blob_.capacity() >= bytes) return;
  freeze_blob_.clear();
  freeze_blob_.shrink_to_fit();
  freeze_blob_.reserve(bytes);
  // On huge pages where it can be: a VM's hypervisor may drop the mappings
  // of 4 KiB pages behind the guest's back, and a buffer written through at
  // Prepare is slow to write again at Freeze (docs/PERFORMANCE.md).
  AdviseHugePages(&freeze_blob_[0], freeze_blob_.capacity());
  freeze_blob_.resize(bytes);  // written, so faulted in now
  freeze_blob_.clear();        // the capacity stays
}

}  // namespace khod
