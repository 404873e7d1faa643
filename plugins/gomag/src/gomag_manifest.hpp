// The Gomag connector's manifest: settings (with the BOCP/CloudSales operator options that
// belong to the connection) and entities. docs: plugins/gomag/README.md.
#pragma once

namespace plexus::gomag {

inline constexpr const char* kManifest = R"json({
  "id": "gomag",
  "name": "Gomag (Public API)",
  "version": "0.1.0",
  "description": "Products, stock and prices, categories, orders, order statuses, customers and invoices of one Gomag shop through its Public API (api.gomag.ro/api/v1): Apikey and ApiShop headers, multipart data= form posts, collections keyed by id, page/pages paging, business errors in HTTP 200 bodies, separate read and write budgets (Api-RateLimit-* headers).",
  "settings": [
    {"name": "api_key", "type": "string", "required": true, "secret": true, "description": "The shop's API key (Gomag admin: Settings → API; for CloudSales the generated token), sent as the Apikey header. Write it as ${ENV_VAR}."},
    {"name": "shop_url", "type": "string", "required": true, "description": "The shop's URL as configured in Gomag, sent as the ApiShop header, e.g. https://www.myshop.ro."},
    {"name": "base_url", "type": "string", "default": "https://api.gomag.ro", "description": "Scheme, host and port of the API (no path); the sandbox's is http://127.0.0.1:8086."},
    {"name": "user_agent", "type": "string", "default": "Plexus-Gomag/0.1", "description": "Sent as User-Agent. Gomag refuses PostmanRuntime/…; anything else is accepted."},
    {"name": "currency", "type": "string", "default": "RON", "description": "The currency of a product create that maps none (RON or EUR)."},
    {"name": "orders_start_date", "type": "string", "description": "YYYY-MM-DD: the first order read (and one after a rewind with no date) takes orders registered on or after this day; older orders are never read. The seed's \"data de la care sa se preia comenzile\"."},
    {"name": "order_status_ids", "type": "array", "description": "Gomag order status ids (GET order/status/read/json lists them; e.g. [1, 8]) whose orders are read; empty: every status."},
    {"name": "order_work_point", "type": "string", "description": "The back office's work point (warehouse) the shop's orders are taken into (\"punctul de lucru de unde se preiau comenzile\"): every order read carries it as work_point, for the Orders process's mapping."},
    {"name": "stock_work_point", "type": "string", "description": "Optional: the work point whose stock and prices go to the shop (\"punctul de lucru de unde se trimit preturi si stocuri\"). A stock_prices record that names another work_point fails with a clear error instead of overwriting the shop's stock."},
    {"name": "page_size", "type": "integer", "default": 100, "description": "Products asked per read request (Gomag's limit, 1 to 100). Orders and customers come 100 per page."},
    {"name": "write_batch_size", "type": "integer", "default": 25, "description": "Products per product/write or product/patch request, 1 to 25 (Gomag's cap)."},
    {"name": "inventory_batch_size", "type": "integer", "default": 1000, "description": "Items per product/inventory request, 1 to 1000 (Gomag's cap)."}
  ],
  "entities": [
    {"name": "products", "description": "Products by SKU (the key; versions are products of their own with parent). Read incrementally by Gomag's updated day filter; create (product/write) and update (product/patch, identified by SKU) in requests of at most 25, a refused product isolated from the rest of its request. A write is Gomag's product document (name, currency, categories [[\"Main\",\"Sub\"]], versions [{sku, price, stock, stockStatus}]) or flat: sku, price, stock, stockStatus, ean, weight, specialPrice, listPrice go into versions[0]; categories may be one path \"Main/Sub\".", "key": "sku", "cursor": "updated",
     "capabilities": ["read", "incremental", "create", "update", "lookup"], "open": true,
     "fields": [{"name": "sku", "type": "string"}, {"name": "id", "type": "string"}, {"name": "name", "type": "string"},
                {"name": "price", "type": "number"}, {"name": "stock", "type": "number"}, {"name": "stockStatus", "type": "string"},
                {"name": "currency", "type": "string"}, {"name": "vat", "type": "number"}, {"name": "enabled", "type": "string"},
                {"name": "categories", "type": "array"}, {"name": "versions", "type": "array"}, {"name": "updated", "type": "datetime"}]},
    {"name": "stock_prices", "description": "Stock and prices by SKU (product/inventory, up to 1000 per request): absolute stock (or addStock), price, specialPrice, listPrice, vat, priceWithVat, currency, stockStatus, stockManagement, allowBackorders. An unknown SKU fails that record (Gomag: MISSING_ITEMS). Write only; lookup reads the product by SKU.", "key": "sku",
     "capabilities": ["create", "update", "lookup"],
     "fields": [{"name": "sku", "type": "string", "required": true}, {"name": "stock", "type": "number"}, {"name": "addStock", "type": "number"},
                {"name": "price", "type": "number"}, {"name": "specialPrice", "type": "number"}, {"name": "listPrice", "type": "number"},
                {"name": "vat", "type": "number"}, {"name": "priceWithVat", "type": "integer"}, {"name": "currency", "type": "string"},
                {"name": "stockStatus", "type": "string", "description": "instock, notinstock, order, preorder"},
                {"name": "stockManagement", "type": "integer"}, {"name": "allowBackorders", "type": "integer"},
                {"name": "work_point", "type": "string", "description": "Checked against the stock_work_point setting; not sent."}]},
    {"name": "categories", "description": "Product categories (key: Gomag's id). Read in full each run (no change filter); create (category/write, found again by name under the same parent: a create of a name that exists answers conflict and the host updates it) and update (category/patch by id).", "key": "id",
     "capabilities": ["read", "create", "update", "lookup"], "open": true,
     "fields": [{"name": "id", "type": "string"}, {"name": "name", "type": "string", "required": true}, {"name": "parent_id", "type": "string"},
                {"name": "description", "type": "string"}, {"name": "active", "type": "string"}, {"name": "position", "type": "string"},
                {"name": "depth", "type": "string"}, {"name": "parents", "type": "object"}]},
    {"name": "orders", "description": "Orders (key: id) with items, billing, shipping, payment, delivery, discounts, as Gomag sends them, plus work_point (the order_work_point setting). Read incrementally by Gomag's updated day filter (whole days: orders of the latest day come again and are unchanged for the host), from orders_start_date, of the order_status_ids.", "key": "id", "cursor": "date",
     "capabilities": ["read", "incremental"], "open": true,
     "fields": [{"name": "id", "type": "string"}, {"name": "number", "type": "string"}, {"name": "date", "type": "datetime"},
                {"name": "statusId", "type": "string"}, {"name": "status", "type": "string"}, {"name": "total", "type": "string"},
                {"name": "currency", "type": "string"}, {"name": "items", "type": "array"}, {"name": "billing", "type": "object"},
                {"name": "shipping", "type": "object"}, {"name": "invoice", "type": "object"}, {"name": "work_point", "type": "string"}]},
    {"name": "order_status", "description": "An order's status (order/status, one per request): order (Gomag's order id), status (a status id). Key: the order id. Setting a status again is harmless; lookup (needs number, the order number) reads the order's current status.", "key": "order",
     "capabilities": ["create", "update", "lookup"],
     "fields": [{"name": "order", "type": "string", "required": true}, {"name": "status", "type": "integer", "required": true},
                {"name": "number", "type": "string", "description": "The order number, for lookup."}]},
    {"name": "customers", "description": "Customers (key: id, the collection's key) with addresses; read in full each run (Gomag has no change filter for customers); lookup by id (customer/read?customer=), so a process can bring an order's customer (billing.customerId) first.", "key": "id",
     "capabilities": ["read", "lookup"], "open": true,
     "fields": [{"name": "id", "type": "string"}, {"name": "email", "type": "string"}, {"name": "firstname", "type": "string"},
                {"name": "lastname", "type": "string"}, {"name": "phone", "type": "string"}, {"name": "type", "type": "string"},
                {"name": "active", "type": "string"}, {"name": "registration", "type": "datetime"}]},
    {"name": "invoices", "description": "Generate the invoice of an order (invoice/generate). Key: the order number (orderNumber, required). Before generating, the order is read: an order that already has an invoice is adopted, never invoiced twice. Only type invoice (proforma and storno cannot be told apart from an existing invoice, so they are refused).", "key": "orderNumber",
     "capabilities": ["create", "lookup"],
     "fields": [{"name": "orderNumber", "type": "string", "required": true}, {"name": "type", "type": "string", "description": "invoice (the default)"},
                {"name": "invoiceSeries", "type": "string", "description": "Read only."}, {"name": "invoiceNumber", "type": "string", "description": "Read only."},
                {"name": "invoiceDate", "type": "datetime", "description": "Read only."}]}
  ],
  "rate_limit": {"requests_per_second": 1, "burst": 40}
})json";

}  // namespace plexus::gomag
