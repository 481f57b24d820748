// Delta/varint encodings of a guest_memfd's large tables, used as `bytes`
// fields of the protobuf payload (docs/FORMAT.md "Protobuf form", "Payload").
// Each table is a sequence of records; indexes are stored as the gap from the
// previous record's end, so tables are ordered and disjoint by construction.
//
// Decoders are given the record count from the message and refuse a stream
// that is truncated, overlong, has trailing bytes, or whose arithmetic would
// overflow; everything else (sizes, alignment) is left to CheckInvariants.
#ifndef KHOD_SERIALIZER_VARINT_TABLES_H_
#define KHOD_SERIALIZER_VARINT_TABLES_H_

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "state/snapshot.h"

namespace khod {

// Folio extent record: varint gap, varint nr_folios, u8 order|unknown-pfn bit,
// u8 flags, [zigzag varint pfn delta when the PFN is known].
void EncodeFolioStream(const FolioList& extents, std::string* out);
Status DecodeFolioStream(std::string_view in, uint64_t count, FolioList* out);

// Attribute range record: varint gap, varint count, varint value.
void EncodeAttributeStream(const std::vector<AttributeRange>& ranges, std::string* out);
Status DecodeAttributeStream(std::string_view in, uint64_t count, std::vector<AttributeRange>* out);

// Content hash record: varint gap, varint count, 8-byte little-endian xxh3.
void EncodeHashStream(const std::vector<ContentHash>& hashes, std::string* out);
Status DecodeHashStream(std::string_view in, uint64_t count, std::vector<ContentHash>* out);

}  // namespace khod

#endif  // KHOD_SERIALIZER_VARINT_TABLES_H_
