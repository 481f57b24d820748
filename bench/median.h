// The median of a benchmark's runs: the one home for it in bench/.
#ifndef KHOD_BENCH_MEDIAN_H_
#define KHOD_BENCH_MEDIAN_H_

#include <algorithm>
#include <vector>

namespace khod {

// The middle value, or the mean of the two middle ones; 0 for no value.
inline double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty()      ? 0
         : v.size() % 2 ? v[v.size() / 2]
                        : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace khod

#endif  // KHOD_BENCH_MEDIAN_H_
