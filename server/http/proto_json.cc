#include "server/http/proto_json.h"

#include <string>

#include "absl/strings/escaping.h"
#include "google/protobuf/descriptor.h"

namespace seqserve {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// One value of `field` (element `index` of a repeated field, or the singular value when
// index < 0).
nlohmann::json FieldValue(const Message& message, const FieldDescriptor& field, int index) {
  const Reflection& r = *message.GetReflection();
  const bool repeated = index >= 0;
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return repeated ? r.GetRepeatedInt32(message, &field, index) : r.GetInt32(message, &field);
    case FieldDescriptor::CPPTYPE_INT64:
      return repeated ? r.GetRepeatedInt64(message, &field, index) : r.GetInt64(message, &field);
    case FieldDescriptor::CPPTYPE_UINT32:
      return repeated ? r.GetRepeatedUInt32(message, &field, index) : r.GetUInt32(message, &field);
    case FieldDescriptor::CPPTYPE_UINT64:
      return repeated ? r.GetRepeatedUInt64(message, &field, index) : r.GetUInt64(message, &field);
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return repeated ? r.GetRepeatedDouble(message, &field, index) : r.GetDouble(message, &field);
    case FieldDescriptor::CPPTYPE_FLOAT:
      return repeated ? r.GetRepeatedFloat(message, &field, index) : r.GetFloat(message, &field);
    case FieldDescriptor::CPPTYPE_BOOL:
      return repeated ? r.GetRepeatedBool(message, &field, index) : r.GetBool(message, &field);
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int number = repeated ? r.GetRepeatedEnumValue(message, &field, index)
                                  : r.GetEnumValue(message, &field);
      const google::protobuf::EnumValueDescriptor* value =
          field.enum_type()->FindValueByNumber(number);
      if (value != nullptr) return value->name();
      return number;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      const std::string value =
          repeated ? r.GetRepeatedString(message, &field, index) : r.GetString(message, &field);
      // proto3's JSON mapping sends bytes as base64; strings are UTF-8 already.
      if (field.type() == FieldDescriptor::TYPE_BYTES) return absl::Base64Escape(value);
      return value;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return ProtoToJson(repeated ? r.GetRepeatedMessage(message, &field, index)
                                  : r.GetMessage(message, &field));
  }
  return nullptr;
}

// A map entry's key as a JSON object key.
std::string MapKey(const Message& entry) {
  const FieldDescriptor& key = *entry.GetDescriptor()->map_key();
  const nlohmann::json value = FieldValue(entry, key, -1);
  return value.is_string() ? value.get<std::string>() : value.dump();
}

}  // namespace

nlohmann::json ProtoToJson(const Message& message) {
  nlohmann::json out = nlohmann::json::object();
  const google::protobuf::Descriptor& descriptor = *message.GetDescriptor();
  const Reflection& r = *message.GetReflection();
  for (int i = 0; i < descriptor.field_count(); ++i) {
    const FieldDescriptor& field = *descriptor.field(i);
    if (field.is_map()) {
      nlohmann::json map = nlohmann::json::object();
      const FieldDescriptor& value = *field.message_type()->map_value();
      for (int j = 0; j < r.FieldSize(message, &field); ++j) {
        const Message& entry = r.GetRepeatedMessage(message, &field, j);
        map[MapKey(entry)] = FieldValue(entry, value, -1);
      }
      out[field.name()] = std::move(map);
    } else if (field.is_repeated()) {
      nlohmann::json values = nlohmann::json::array();
      for (int j = 0; j < r.FieldSize(message, &field); ++j) {
        values.push_back(FieldValue(message, field, j));
      }
      out[field.name()] = std::move(values);
    } else if (!field.has_presence() || r.HasField(message, &field)) {
      out[field.name()] = FieldValue(message, field, -1);
    }
  }
  return out;
}

}  // namespace seqserve
