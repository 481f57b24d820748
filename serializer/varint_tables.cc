#include "serializer/varint_tables.h"

#include "common/coding.h"
#include "common/status_macros.h"

namespace khod {
namespace {

constexpr uint8_t kOrderMask = 0x3f;
constexpr uint8_t kPfnUnknownBit = 0x80;
constexpr uint8_t kReservedBit = 0x40;

// Worst-case bytes of one record, so encoders can size once and write raw.
constexpr size_t kMaxAttributeRecord = 3 * kMaxVarint64Bytes;
constexpr size_t kMaxHashRecord = 2 * kMaxVarint64Bytes + 8;

Status Truncated(const char* table, uint64_t i) {
  return Status::Corruption(std::string(table) + " stream: record " + std::to_string(i) +
                            " truncated or has an overlong varint");
}

// Shared tail check: every record consumed exactly the stream.
Status CheckConsumed(const char* table, const uint8_t* p, const uint8_t* end) {
  if (p != end)
    return Status::Corruption(std::string(table) + " stream: " + std::to_string(end - p) +
                              " bytes after the last record");
  return Status::Ok();
}

// A count claims at least one byte per record: refuse before reserving memory
// for a hostile count.
Status CheckCount(const char* table, uint64_t count, size_t bytes, size_t min_record) {
  if (count > bytes / min_record)
    return Status::Corruption(std::string(table) + " stream: " + std::to_string(count) +
                              " records cannot fit in " + std::to_string(bytes) + " bytes");
  return Status::Ok();
}

// Reads the "varint gap, varint count" every range record starts with and
// advances prev_end past the range.
Status ReadSpan(const char* table, uint64_t i, const uint8_t** p, const uint8_t* end,
                uint64_t* prev_end, uint64_t* first, uint64_t* count) {
  uint64_t gap;
  if (!GetVarint64(p, end, &gap) || !GetVarint64(p, end, count)) return Truncated(table, i);
  if (__builtin_add_overflow(*prev_end, gap, first) ||
      __builtin_add_overflow(*first, *count, prev_end))
    return Status::Corruption(std::string(table) + " stream: record " + std::to_string(i) +
                              " index arithmetic overflows 64 bits");
  return Status::Ok();
}

}  // namespace

// Walks the extents emitting the stream's fields to `sink`, so one walk can
// size the output exactly and a second write it: encoding 1.25 M extents
// then touches ~8 MB, not the 40 MB a worst-case bound would zero-fill.
template <typename Sink>
void WalkFolioStream(const FolioList& extents, Sink& sink) {
  uint64_t prev_end = 0, next_pfn = 0;
  for (const FolioExtent& e : extents) {
    sink.Varint(e.first_index - prev_end);
    sink.Varint(e.nr_folios);
    const bool known = e.first_pfn != kPfnUnknown;
    sink.Byte(static_cast<uint8_t>((e.order & kOrderMask) | (known ? 0 : kPfnUnknownBit)));
    sink.Byte(e.flags);
    const uint64_t pages = e.pages();
    if (known) {
      sink.Varint(ZigZagEncode64(static_cast<int64_t>(e.first_pfn - next_pfn)));
      next_pfn = e.first_pfn + pages;
    }
    prev_end = e.first_index + pages;
  }
}

struct CountingSink {
  size_t bytes = 0;
  void Varint(uint64_t v) { bytes += VarintLength(v); }
  void Byte(uint8_t) { ++bytes; }
};

struct WritingSink {
  uint8_t* p;
  void Varint(uint64_t v) { p = EncodeVarint64(p, v); }
  void Byte(uint8_t b) { *p++ = b; }
};

void EncodeFolioStream(const FolioList& extents, std::string* out) {
  CountingSink count;
  WalkFolioStream(extents, count);
  out->resize(count.bytes);
  WritingSink write{reinterpret_cast<uint8_t*>(&(*out)[0])};
  WalkFolioStream(extents, write);
}

Status DecodeFolioStream(std::string_view in, uint64_t count, FolioList* out) {
  static const char kTable[] = "folio extent";
  KHOD_RETURN_IF_ERROR(CheckCount(kTable, count, in.size(), 4));
  const uint8_t* p = reinterpret_cast<const uint8_t*>(in.data());
  const uint8_t* const end = p + in.size();
  out->clear();
  // One array of its own, sized first (count is bounded by the stream's bytes above) and
  // filled by index: faster than a push_back per record.
  FolioList::Extents& extents = out->Mutable();
  extents.resize(count);
  uint64_t prev_end = 0, next_pfn = 0;
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t gap, nr, delta = 0;
    if (!GetVarint64(&p, end, &gap) || !GetVarint64(&p, end, &nr) || end - p < 2)
      return Truncated(kTable, i);
    const uint8_t order_byte = *p++;
    FolioExtent& e = extents[i];
    e.flags = *p++;
    e.order = order_byte & kOrderMask;
    if (order_byte & kReservedBit)
      return Status::Corruption("folio extent stream: record " + std::to_string(i) +
                                " sets reserved bit 6 of the order byte");
    if (nr > UINT32_MAX)
      return Status::Corruption("folio extent stream: record " + std::to_string(i) + " nr_folios " +
                                std::to_string(nr) + " exceeds 32 bits");
    e.nr_folios = static_cast<uint32_t>(nr);
    if (nr > (UINT64_MAX >> e.order) || __builtin_add_overflow(prev_end, gap, &e.first_index) ||
        __builtin_add_overflow(e.first_index, e.pages(), &prev_end))
      return Status::Corruption("folio extent stream: record " + std::to_string(i) +
                                " index arithmetic overflows 64 bits");
    if (!(order_byte & kPfnUnknownBit)) {
      if (!GetVarint64(&p, end, &delta)) return Truncated(kTable, i);
      e.first_pfn = next_pfn + static_cast<uint64_t>(ZigZagDecode64(delta));
      if (e.first_pfn == kPfnUnknown)
        return Status::Corruption("folio extent stream: record " + std::to_string(i) +
                                  " encodes the unknown-PFN marker as a known PFN");
      next_pfn = e.first_pfn + e.pages();
    }
  }
  return CheckConsumed(kTable, p, end);
}

void EncodeAttributeStream(const std::vector<AttributeRange>& ranges, std::string* out) {
  out->resize(ranges.size() * kMaxAttributeRecord);
  uint8_t* const begin = reinterpret_cast<uint8_t*>(&(*out)[0]);
  uint8_t* p = begin;
  uint64_t prev_end = 0;
  for (const AttributeRange& r : ranges) {
    p = EncodeVarint64(p, r.first - prev_end);
    p = EncodeVarint64(p, r.count);
    p = EncodeVarint64(p, r.value);
    prev_end = r.first + r.count;
  }
  out->resize(p - begin);
}

Status DecodeAttributeStream(std::string_view in, uint64_t count,
                             std::vector<AttributeRange>* out) {
  static const char kTable[] = "attribute range";
  KHOD_RETURN_IF_ERROR(CheckCount(kTable, count, in.size(), 3));
  const uint8_t* p = reinterpret_cast<const uint8_t*>(in.data());
  const uint8_t* const end = p + in.size();
  out->clear();
  out->reserve(count);
  uint64_t prev_end = 0;
  for (uint64_t i = 0; i < count; ++i) {
    AttributeRange r;
    KHOD_RETURN_IF_ERROR(ReadSpan(kTable, i, &p, end, &prev_end, &r.first, &r.count));
    if (!GetVarint64(&p, end, &r.value)) return Truncated(kTable, i);
    if (r.count == 0 || r.value == 0)
      return Status::Corruption("attribute range stream: record " + std::to_string(i) +
                                (r.count == 0 ? " has count 0" : " has value 0"));
    out->push_back(r);
  }
  return CheckConsumed(kTable, p, end);
}

void EncodeHashStream(const std::vector<ContentHash>& hashes, std::string* out) {
  out->resize(hashes.size() * kMaxHashRecord);
  uint8_t* const begin = reinterpret_cast<uint8_t*>(&(*out)[0]);
  uint8_t* p = begin;
  uint64_t prev_end = 0;
  for (const ContentHash& h : hashes) {
    p = EncodeVarint64(p, h.first_index - prev_end);
    p = EncodeVarint64(p, h.count);
    EncodeFixed64(p, h.xxh3);
    p += 8;
    prev_end = h.first_index + h.count;
  }
  out->resize(p - begin);
}

Status DecodeHashStream(std::string_view in, uint64_t count, std::vector<ContentHash>* out) {
  static const char kTable[] = "content hash";
  KHOD_RETURN_IF_ERROR(CheckCount(kTable, count, in.size(), 10));
  const uint8_t* p = reinterpret_cast<const uint8_t*>(in.data());
  const uint8_t* const end = p + in.size();
  out->clear();
  out->reserve(count);
  uint64_t prev_end = 0;
  for (uint64_t i = 0; i < count; ++i) {
    ContentHash h;
    KHOD_RETURN_IF_ERROR(ReadSpan(kTable, i, &p, end, &prev_end, &h.first_index, &h.count));
    if (end - p < 8) return Truncated(kTable, i);
    h.xxh3 = DecodeFixed64(p);
    p += 8;
    out->push_back(h);
  }
  return CheckConsumed(kTable, p, end);
}

}  // namespace khod
