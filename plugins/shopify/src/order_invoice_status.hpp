// The Intacct invoice of a Shopify order: entity order_invoice_status, keyed by the order.
// A write (create and update alike: it is an upsert) finds the order by id or name, keeps the
// invoice's number, date, state and amount due in the order's metafields (namespace plexus;
// only values that differ are written), and when the invoice is paid records the payment as
// order transactions planned by plan_payment() (wire.hpp) from the order's own transactions,
// so a payment is recorded exactly once whatever is re-run.
//
// Lookup after an interrupted create answers "there" only when every metafield already holds
// the mapped value and a paid invoice's payment is recorded; otherwise the host writes again,
// which completes what the interrupted write left undone.
#pragma once

#include "admin_api.hpp"

#include <vector>

namespace plexus::shopify {

class OrderInvoiceStatus {
public:
    explicit OrderInvoiceStatus(AdminApi& api) : api_(api) {}

    std::vector<plexus::sdk::WriteResult> write(const std::vector<plexus::sdk::WriteItem>& items);
    plexus::sdk::LookupResult lookup(const plexus::sdk::LookupRequest& request);

private:
    struct Invoice {
        std::vector<MetafieldValue> metafields;
        bool paid = false;
    };
    static Invoice invoice_of(const json& data);
    // The order (fields the payment plan needs) named by the record; none when Shopify has no
    // such order.
    std::optional<json> find_order(const json& data, const std::string& target_key);
    json metafields_of(int64_t order_id);
    json transactions_of(int64_t order_id);
    plexus::sdk::WriteResult write_one(const plexus::sdk::WriteItem& item);

    AdminApi& api_;
};

}  // namespace plexus::shopify
