// daemon/request_limits.h: every string and repeated field of every request
// khod serves has a limit, and a request past one is refused naming the field.
#include "daemon/request_limits.h"

#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "proto/khod.pb.h"

namespace khod {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// Every string and repeated field reachable from `d` that has no limit.
void Unlimited(const Descriptor* d, std::set<std::string>* seen, std::string* out) {
  if (!seen->insert(d->full_name()).second) return;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const bool bounded = f->is_repeated() || f->cpp_type() == FieldDescriptor::CPPTYPE_STRING;
    if (bounded && !RequestFieldLimit(*f)) *out += f->full_name() + " ";
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) Unlimited(f->message_type(), seen, out);
  }
}

TEST(RequestLimits, EveryStringAndRepeatedFieldOfEveryRequestHasOne) {
  const google::protobuf::ServiceDescriptor* svc =
      v1::AttachRequest::descriptor()->file()->FindServiceByName("Khod");
  ASSERT_NE(svc, nullptr);
  ASSERT_GT(svc->method_count(), 0);
  std::set<std::string> seen;
  std::string unlimited;
  for (int i = 0; i < svc->method_count(); ++i)
    Unlimited(svc->method(i)->input_type(), &seen, &unlimited);
  EXPECT_EQ(unlimited, "") << "fields without a limit in daemon/request_limits.cc";
}

TEST(RequestLimits, ARequestPastALimitIsRefusedNamingTheField) {
  v1::AttachRequest q;
  q.set_name(std::string(3900000, 'n'));  // issue 11: 3.9 MB once broke every Status
  Status s = CheckRequestLimits(q);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("AttachRequest.name: 3900000 bytes, at most 255"), std::string::npos)
      << s.message();
  q.set_name(std::string(255, 'n'));
  EXPECT_TRUE(CheckRequestLimits(q).ok());

  for (int i = 0; i < 4097; ++i) q.add_memslots();
  s = CheckRequestLimits(q);
  EXPECT_NE(s.message().find("AttachRequest.memslots: 4097 elements"), std::string::npos)
      << s.message();

  v1::FreezeRequest f;
  f.set_dir(std::string(5000, 'd'));
  EXPECT_NE(CheckRequestLimits(f).message().find("FreezeRequest.dir"), std::string::npos);

  v1::UpdateAttributesRequest u;
  for (size_t i = 0; i <= kMaxGmemAttributeRanges; ++i) u.add_ranges();
  EXPECT_NE(CheckRequestLimits(u).message().find("UpdateAttributesRequest.ranges"),
            std::string::npos);
  v1::RestoreRequest r;
  for (size_t i = 0; i <= kMaxAttachedGmems; ++i) r.add_rebuild_into();
  EXPECT_NE(CheckRequestLimits(r).message().find("RestoreRequest.rebuild_into"), std::string::npos);
}

}  // namespace
}  // namespace khod
