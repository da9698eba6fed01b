// Messages that more than one file of routes answers with: a hold (GET /v1/holds/{id} and a
// member's holds), an order (GET /v1/orders/{id} and a member's orders).
#pragma once

#include "api/proto/loyalty/v1/loyalty.pb.h"
#include "api/proto/loyalty/v1/orders.pb.h"
#include "ledger/holds.hpp"
#include "mall/order.hpp"

namespace loyalty::api {

v1::Hold hold_message(const ledger::Hold& hold);
v1::Order order_message(const mall::Order& order);  // with its refunds and entries

}  // namespace loyalty::api
