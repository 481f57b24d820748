// Conversion storm on the MODEL guest_memfd: 1,000,000 random conversions
// (both directions, ranges of 1 page to 1 GiB, log-uniform) on a 1 TiB guest
// of 1 GiB HugeTLB folios, with a few extra references taken and dropped so
// some conversions are refused busy. Prints conversions per second, peak RSS
// (getrusage ru_maxrss) and the size of the resulting snapshot in both blob
// formats. Usage: model_conversion_bench [--conversions N] [--seed S] (--help)
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <vector>

#include "common/flags.h"
#include "model/model_invariants.h"
#include "model/model_source.h"
#include "serializer/serializer.h"

namespace khod {
namespace {

long PeakRssKiB() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

int Run(uint64_t conversions, uint64_t seed) {
  constexpr uint64_t kGuest = uint64_t{1} << 40;
  ModelKernel kernel;
  ModelGmemOptions o;
  o.token = 1;
  o.name = "storm";
  o.size = kGuest;
  o.backing = Backing::kHugetlb;
  o.hstate_order = kHstateOrder1G;
  auto created = ModelGuestMemfd::Create(&kernel, o);
  if (!created.ok()) {
    std::fprintf(stderr, "%s\n", created.status().ToString().c_str());
    return 1;
  }
  ModelGuestMemfd& m = **created;
  const uint64_t pages = m.pages();
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> held;
  uint64_t ok = 0, busy = 0, other = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < conversions; ++i) {
    if (i % 1000 == 0) {  // a user pins a page now and then, and lets go later
      if (held.size() < 16) {
        const uint64_t p = rng() % pages;
        if (m.TakeRef(p).ok()) held.push_back(p);
      } else {
        const size_t j = rng() % held.size();
        (void)m.DropRef(held[j]);
        held.erase(held.begin() + j);
      }
    }
    const uint64_t count =
        std::min<uint64_t>(uint64_t{1} << (rng() % 19), 1 + rng() % (uint64_t{1} << 18));
    const uint64_t first = rng() % (pages - count + 1);
    const Status s = m.Convert(first, count, rng() & 1);
    if (s.ok())
      ++ok;
    else if (s.code() == Status::Code::kBusy)
      ++busy;
    else
      ++other;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (uint64_t p : held) (void)m.DropRef(p);

  std::printf("MODEL conversion storm: 1 TiB guest_memfd, 1 GiB HugeTLB folios (%llu)\n",
              static_cast<unsigned long long>(pages >> kHstateOrder1G));
  std::printf("  conversions          %llu (ok %llu, busy %llu, other %llu)\n",
              static_cast<unsigned long long>(conversions), static_cast<unsigned long long>(ok),
              static_cast<unsigned long long>(busy), static_cast<unsigned long long>(other));
  std::printf("  time                 %.3f s\n", secs);
  std::printf("  conversions/s        %.0f\n", conversions / secs);
  std::printf("  attribute ranges     %zu\n", m.attributes().range_count());
  std::printf("  filemap extents      %zu\n", m.filemap().extent_count());
  std::printf("  split folios         %zu of %llu\n", m.split_folios().size(),
              static_cast<unsigned long long>(pages >> kHstateOrder1G));
  std::printf("  peak RSS after storm %ld KiB\n", PeakRssKiB());

  Snapshot snap;
  snap.header.producer = "model_conversion_bench";
  snap.gmems.emplace_back();
  ModelSource source(&m);
  Status s = source.Capture(CaptureOptions(), &snap.gmems[0]);
  if (!s.ok()) {
    std::fprintf(stderr, "capture: %s\n", s.ToString().c_str());
    return 1;
  }
  const std::vector<Violation> v = CheckModelGmem(m);
  std::printf("  invariant violations %zu\n", v.size());
  std::printf("  snapshot: %zu folio extents, %zu attribute ranges, %zu restructure records\n",
              snap.gmems[0].folios.size(), snap.gmems[0].attributes.range_count(),
              snap.gmems[0].restructures.size());
  for (BlobFormat f : {BlobFormat::kFdt, BlobFormat::kProto}) {
    std::string blob;
    const auto e0 = std::chrono::steady_clock::now();
    s = Encode(snap, f, &blob);
    const double es = std::chrono::duration<double>(std::chrono::steady_clock::now() - e0).count();
    if (!s.ok()) {
      std::printf("  %-5s encode failed: %s\n", BlobFormatName(f), s.ToString().c_str());
      continue;
    }
    std::printf("  %-5s snapshot       %zu bytes (encode %.3f s)\n", BlobFormatName(f), blob.size(),
                es);
  }
  std::printf("  peak RSS             %ld KiB\n", PeakRssKiB());
  return v.empty() ? 0 : 2;
}

}  // namespace
}  // namespace khod

int main(int argc, char** argv) {
  int exit_code = 0;
  std::optional<khod::ParsedFlags> f = khod::ParseCommandLine(
      argc, argv, "model_conversion_bench [--conversions N] [--seed S]",
      {{"--conversions", true, nullptr, "N  random conversions to make (1000000)"},
       {"--seed", true, nullptr, "S  seed of their generator (1)"}},
      &exit_code);
  if (!f) return exit_code;
  khod::Result<uint64_t> n = f->GetUint("--conversions", 1000000);
  khod::Result<uint64_t> seed = f->GetUint("--seed", 1);
  for (const khod::Status& s : {n.status(), seed.status()})
    if (!s.ok()) {
      std::fprintf(stderr, "model_conversion_bench: %s\n", s.message().c_str());
      return 2;
    }
  return khod::Run(*n, *seed);
}
