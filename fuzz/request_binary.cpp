// Request bodies in binary protobuf: parse_binary either refuses them or yields a message
// that encodes to JSON (the contract's output) and back to the same binary.
#include <cstdint>
#include <string_view>

#include "api/json_codec.hpp"
#include "api/proto/loyalty/v1/loyalty.pb.h"
#include "api/proto/loyalty/v1/orders.pb.h"
#include "api/proto/loyalty/v1/partners.pb.h"
#include "fuzz/fuzz_check.hpp"

namespace {

template <typename Message>
void decode(std::string_view body) {
  Message message;
  if (loyalty::api::parse_binary(body, message)) return;
  (void)loyalty::api::to_json(message);
  const std::string bytes = loyalty::api::to_binary(message);
  Message again;
  FUZZ_CHECK(!loyalty::api::parse_binary(bytes, again));
  FUZZ_CHECK(loyalty::api::to_binary(again) == bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  decode<loyalty::v1::RecordEventRequest>(body);
  decode<loyalty::v1::CreateAdjustmentRequest>(body);
  decode<loyalty::v1::CreateOrderRequest>(body);
  decode<loyalty::v1::CreateInboundExchangeRequest>(body);
  return 0;
}
