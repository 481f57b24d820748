// What a HugeTLB test needs of the default huge page pool: its figures as
// /proc/meminfo shows them, the VmFlags of this process's mapping of a memfd
// (/proc/self/smaps: "nr" is MAP_NORESERVE, "ht" HugeTLB), and HugePool,
// which makes pages of the pool free for a test and gives back only what it
// added (another test may have added pages meanwhile).
#ifndef KHOD_TESTS_SUPPORT_HUGE_POOL_H_
#define KHOD_TESTS_SUPPORT_HUGE_POOL_H_

#include <unistd.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace khod {

// /proc/meminfo's value for `key` ("HugePages_Rsvd"), -1 when absent.
inline long MeminfoValue(const std::string& key) {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
  return -1;
}

// The VmFlags of each of this process's mappings of the memfd named `name`
// (its path "/memfd:NAME (deleted)"), in address order, each as its words.
inline std::vector<std::vector<std::string>> MemfdVmFlags(const std::string& name) {
  std::ifstream in("/proc/self/smaps");
  std::vector<std::vector<std::string>> out;
  const std::string path = "/memfd:" + name + " (deleted)";
  bool in_mapping = false;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmFlags:", 0) == 0) {
      if (in_mapping) {
        std::istringstream words(line.substr(8));
        std::vector<std::string> flags;
        for (std::string w; words >> w;) flags.push_back(w);
        out.push_back(std::move(flags));
      }
      in_mapping = false;
      continue;
    }
    // A mapping's first line, "start-end perms offset dev inode [path]", has
    // a '-' in its first word; the lines of its fields ("Size:") have none.
    const std::string first_word = line.substr(0, line.find(' '));
    if (first_word.find('-') != std::string::npos)
      in_mapping = line.size() >= path.size() &&
                   line.compare(line.size() - path.size(), path.size(), path) == 0;
  }
  return out;
}

inline bool HasWord(const std::vector<std::string>& words, const std::string& w) {
  for (const std::string& x : words)
    if (x == w) return true;
  return false;
}

// Huge pages of the default size made free (and not reserved) for a test:
// /proc/sys/vm/nr_hugepages raised by what is missing, lowered again by what
// was added when the pool goes (after the test's files, declared after it).
class HugePool {
 public:
  HugePool() = default;
  HugePool(const HugePool&) = delete;
  HugePool& operator=(const HugePool&) = delete;
  ~HugePool() {
    if (!added_) return;
    const long now = ReadLong(kNr);
    std::ofstream(kNr) << (now > added_ ? now - added_ : 0);
  }

  // Whether `pages` huge pages are free and not reserved, adding them to the
  // pool where missing; if not, why (the test skips).
  std::optional<std::string> Arrange(long pages) {
    if (::geteuid() != 0) return "growing the huge page pool needs root";
    const long available = Available();
    if (available >= pages) return std::nullopt;
    const long old = ReadLong(kNr);
    {
      std::ofstream w(kNr);
      w << old + (pages - available);
      if (!w) return std::string("cannot write ") + kNr;
    }
    const long now = ReadLong(kNr);
    added_ += now > old ? now - old : 0;
    if (Available() < pages)
      return "could not make " + std::to_string(pages) + " huge pages free (" +
             std::to_string(Available()) + " free and unreserved)";
    return std::nullopt;
  }

 private:
  static constexpr const char* kNr = "/proc/sys/vm/nr_hugepages";
  static long ReadLong(const char* path) {
    std::ifstream in(path);
    long v = 0;
    in >> v;
    return v;
  }
  static long Available() {
    return MeminfoValue("HugePages_Free") - MeminfoValue("HugePages_Rsvd");
  }
  long added_ = 0;
};

}  // namespace khod

#endif  // KHOD_TESTS_SUPPORT_HUGE_POOL_H_
