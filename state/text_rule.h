// What a text of khod's may hold: a guest_memfd's name, and a snapshot
// header's producer, kernel release and boot id. Two rules, one stricter:
//
//   kStored  what every blob and session record may hold, since format 1.0:
//            well-formed UTF-8 (RFC 3629: no overlongs, surrogates or code
//            points above U+10FFFF; protobuf strings must be) without NUL
//            (FDT strings end at it), a C0 control or DEL. Decoders,
//            encoders and captures check this, so that what an older khod
//            saved keeps decoding.
//   kGiven   what khod takes from a caller (AttachRequest.name): kStored, and
//            no other character Unicode calls a control (Cc: C1, whose CSI
//            U+009B and OSC U+009D start terminal escapes) or a format
//            character (Cf: soft hyphen, bidi marks, embeddings, overrides and
//            isolates, zero-width characters, the BOM, tags), nor a line or
//            paragraph separator. Each is invisible, or reorders or breaks the
//            text around it, so a name holding one can show root other text
//            than it holds.
//
// A text saved before kGiven (a name with a C1 control) still decodes; khoctl
// escapes every text a server sends before it prints it (common/printable.h).
#ifndef KHOD_STATE_TEXT_RULE_H_
#define KHOD_STATE_TEXT_RULE_H_

#include <string>

namespace khod {

enum class TextRule { kStored, kGiven };

// "" when `s` keeps `rule`; else what is wrong and where: "contains control
// character U+009B at byte 3", "contains format character U+202E at byte 8",
// "is not valid UTF-8 at byte 2 (0xff)", "contains a NUL byte (U+0000) at byte 0".
std::string TextProblem(const std::string& s, TextRule rule);

}  // namespace khod

#endif  // KHOD_STATE_TEXT_RULE_H_
