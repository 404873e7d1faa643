// The sandbox against Sage Intacct's public documentation, spoken to with raw XML (no
// connector): what real clients rely on and what the connector must not be spared. Each case
// names its source; README "Sandbox" lists what is simulated and what is invented.
#include "intacct_fixture.hpp"
#include "intacct_xml.hpp"

#include <httplib.h>

using namespace intacct_test;
namespace ix = plexus::intacct;

namespace {

struct Gateway {
    World& w;
    std::string session;

    // One request: `functions` is the serialised content of <content>.
    ix::Response post(const std::string& functions, bool unique = false, bool transaction = false,
                      const std::string& controlid = "t1", const httplib::Headers& headers = {},
                      std::string* raw = nullptr) {
        std::string auth = session.empty()
                               ? "<login><userid>sandbox_user</userid><companyid>SANDBOX</companyid>"
                                 "<password>sandbox_pw</password></login>"
                               : "<sessionid>" + session + "</sessionid>";
        std::string body =
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><request><control><senderid>sandbox_sender</senderid>"
            "<password>sandbox_sender_pw</password><controlid>" + controlid + "</controlid><uniqueid>" +
            (unique ? "true" : "false") + "</uniqueid><dtdversion>3.0</dtdversion><includewhitespace>false"
            "</includewhitespace></control><operation transaction=\"" + (transaction ? "true" : "false") +
            "\"><authentication>" + auth + "</authentication><content>" + functions +
            "</content></operation></request>";
        httplib::Client cli("127.0.0.1", w.server.port());
        auto res = cli.Post("/ia/xml/xmlgw.phtml", headers, body, "application/xml");
        REQUIRE(res);
        REQUIRE(res->status == 200);
        if (raw) *raw = res->body;
        return ix::parse_response(res->body);
    }
    void login() {
        auto r = post(ix::fn_get_api_session("s"));
        REQUIRE(r.results.size() == 1);
        session = r.results[0].api.value("sessionid", "");
        REQUIRE(!session.empty());
    }
    ix::FunctionResult one(const std::string& fn, bool unique = false) {
        auto r = post(fn, unique);
        INFO(ix::join_errors(r.control_errors));
        REQUIRE(r.control_ok);
        REQUIRE(r.results.size() == 1);
        return r.results[0];
    }
    ix::FunctionResult query(const std::string& object, const std::string& q, const std::string& fields = "*") {
        return one(ix::fn_read_by_query("q", object, q, 1000, "", fields));
    }
};

std::string create_customer(const std::string& fcid, const std::string& id, const std::string& name) {
    return "<function controlid=\"" + fcid + "\"><create><CUSTOMER><CUSTOMERID>" + id + "</CUSTOMERID>" +
           (name.empty() ? "" : "<NAME>" + name + "</NAME>") + "</CUSTOMER></create></function>";
}

}  // namespace

TEST_CASE("sandbox: getAPISession names the https endpoint behind a TLS front", "[intacct][sandbox]") {
    // developer.intacct.com getAPISession: later calls go to the returned <endpoint>, an https
    // URL; the official SDKs send everything there. Behind a TLS-terminating front the
    // sandbox sees plain http plus X-Forwarded-Proto/Host.
    World w;
    Gateway g{w};
    auto direct = g.post(ix::fn_get_api_session("s"));
    CHECK(direct.results.at(0).api["endpoint"] == w.server.base_url() + "/ia/xml/xmlgw.phtml");
    auto fronted = g.post(ix::fn_get_api_session("s"), false, false, "t1",
                          {{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "acme.intacct.example"}});
    CHECK(fronted.results.at(0).api["endpoint"] == "https://acme.intacct.example/ia/xml/xmlgw.phtml");
}

TEST_CASE("sandbox: transaction=\"true\" rolls back every function and reports the others aborted",
          "[intacct][sandbox]") {
    // developer.intacct.com "XML Requests": transaction="true" commits all or nothing; the
    // SDK's fixtures: the other functions report <status>aborted</status>, XL03000009.
    World w;
    Gateway g{w};
    g.login();
    std::string two = create_customer("a", "TX-1", "Anna") + create_customer("b", "TX-2", "");
    auto r = g.post(two, false, true);
    REQUIRE(r.results.size() == 2);
    CHECK(r.results[0].status == "aborted");
    CHECK(r.results[0].errors.at(0).errorno == "XL03000009");
    CHECK(r.results[1].status == "failure");
    CHECK(w.control().count("CUSTOMER") == 200);
    // A function after the failing one is not run either.
    auto r3 = g.post(create_customer("b", "TX-2", "") + create_customer("c", "TX-3", "Carl"), false, true);
    CHECK(r3.results.at(1).status == "aborted");
    CHECK(w.control().count("CUSTOMER") == 200);
    // transaction="false": each function on its own.
    auto r2 = g.post(two, false, false);
    CHECK(r2.results.at(0).status == "success");
    CHECK(r2.results.at(1).status == "failure");
    CHECK(w.control().count("CUSTOMER") == 201);
}

TEST_CASE("sandbox: uniqueid checks each function controlid, never the control controlid",
          "[intacct][sandbox]") {
    // developer.intacct.com "XML Requests": the control <controlid> is not checked for
    // uniqueness; with uniqueid=true the gateway checks each function's controlid.
    World w;
    Gateway g{w};
    g.login();
    auto a = g.post(create_customer("f-1", "U-1", "One"), true, false, "same-control");
    CHECK(a.results.at(0).status == "success");
    auto b = g.post(create_customer("f-2", "U-2", "Two"), true, false, "same-control");
    REQUIRE(b.control_ok);
    CHECK(b.results.at(0).status == "success");
    // The same function controlid again: refused, nothing run (the error is invented).
    auto c = g.post(create_customer("f-1", "U-3", "Three"), true, false, "other-control");
    REQUIRE(c.control_ok);
    CHECK(c.results.at(0).status == "failure");
    CHECK(ix::is_repeat_hint(c.results.at(0).errors));
    CHECK(w.control().count("CUSTOMER") == 202);
    // uniqueid=false: functions run every time.
    auto d = g.post(create_customer("f-1", "U-3", "Three"), false);
    CHECK(d.results.at(0).status == "success");
}

TEST_CASE("sandbox: readByQuery operators, grouping, and errors for bad fields and dates",
          "[intacct][sandbox]") {
    // developer.intacct.com "Queries": <, >, >=, <=, =, like, not like, in, not in, IS NULL,
    // IS NOT NULL; AND / OR; NOT prefix; string operands case-sensitive.
    World w;
    Gateway g{w};
    g.login();
    auto count = [&](const std::string& q) {
        auto r = g.query("CUSTOMER", q, "CUSTOMERID");
        INFO(q << ": " << ix::join_errors(r.errors));
        REQUIRE(r.status == "success");
        return r.totalcount;
    };
    CHECK(count("") == 200);
    CHECK(count("CUSTOMERID = 'C-00001' OR CUSTOMERID = 'C-00002'") == 2);
    CHECK(count("CUSTOMERID LIKE 'C-0000%'") == 9);
    CHECK(count("CUSTOMERID LIKE 'C-0000_'") == 9);
    CHECK(count("CUSTOMERID like 'c-0000%'") == 0);  // case-sensitive
    CHECK(count("NOT CUSTOMERID LIKE 'C-0000%'") == 191);
    CHECK(count("CUSTOMERID NOT LIKE 'C-0000%'") == 191);
    CHECK(count("CUSTOMERID NOT IN ('C-00001','C-00002')") == 198);
    CHECK(count("(CUSTOMERID = 'C-00001' OR CUSTOMERID = 'C-00002') AND STATUS = 'active'") +
              count("(CUSTOMERID = 'C-00001' OR CUSTOMERID = 'C-00002') AND NOT STATUS = 'active'") ==
          2);
    CHECK(count("CUSTOMERID = 'C-00001' OR CUSTOMERID = 'C-00002' AND STATUS = 'nope'") == 1);  // AND binds tighter
    CHECK(count("COMMENTS IS NULL") == 200);
    CHECK(count("COMMENTS IS NOT NULL") == 0);
    CHECK(count("WHENMODIFIED >= '01/01/2024' AND WHENMODIFIED < '01/01/2030 00:00:00'") == 200);

    auto bad = [&](const std::string& q, const std::string& fields = "*") {
        auto r = g.query("CUSTOMER", q, fields);
        INFO(q);
        CHECK(r.status == "failure");
        return ix::join_errors(r.errors);
    };
    // An unparseable date is an error, not every row; an unknown field is an error, not 0 rows.
    CHECK_THAT(bad("WHENMODIFIED > '2024-05-01'"), Catch::Contains("not a valid date"));
    CHECK_THAT(bad("WHENMODIFIED > '13/45/2024'"), Catch::Contains("not a valid date"));
    CHECK_THAT(bad("NOSUCHFIELD = 'x'"), Catch::Contains("unknown field NOSUCHFIELD"));
    CHECK_THAT(bad("", "CUSTOMERID,NOSUCHFIELD"), Catch::Contains("NOSUCHFIELD"));
    CHECK_THAT(bad("(CUSTOMERID = 'x'"), Catch::Contains("')'"));
    CHECK_THAT(bad("CUSTOMERID = 'x' XOR NAME = 'y'"), Catch::Contains("unexpected"));
}

TEST_CASE("sandbox: readMore by object as well as by resultId", "[intacct][sandbox]") {
    // developer.intacct.com "Queries": readMore takes either the object name or the resultId.
    World w;
    Gateway g{w};
    g.login();
    auto first = g.one(ix::fn_read_by_query("q", "ITEM", "", 100));
    REQUIRE(first.numremaining == 50);
    auto more = g.one("<function controlid=\"m\"><readMore><object>ITEM</object></readMore></function>");
    REQUIRE(more.status == "success");
    CHECK(more.count == 50);
    CHECK(more.numremaining == 0);
    CHECK(more.rows.front()["ITEMID"] != first.rows.front()["ITEMID"]);
    auto none = g.one("<function controlid=\"m\"><readMore><object>ITEM</object></readMore></function>");
    CHECK(none.status == "failure");
}

TEST_CASE("sandbox: lookup and inspect describe the objects", "[intacct][sandbox]") {
    // developer.intacct.com "Objects": lookup lists an object's fields and relationships;
    // inspect with * lists the objects.
    World w;
    Gateway g{w};
    g.login();
    std::string raw;
    auto r = g.post("<function controlid=\"l\"><lookup><object>CUSTOMER</object></lookup></function>",
                    false, false, "t1", {}, &raw);
    REQUIRE(r.results.at(0).status == "success");
    CHECK_THAT(raw, Catch::Contains("<ID>CUSTOMERID</ID>") && Catch::Contains("<DATATYPE>TIMESTAMP</DATATYPE>"));
    auto so = g.post("<function controlid=\"l\"><lookup><object>SODOCUMENT</object><docparid>Sales Order</docparid></lookup></function>",
                     false, false, "t1", {}, &raw);
    CHECK_THAT(raw, Catch::Contains("<ID>PONUMBER</ID>"));
    auto i = g.post("<function controlid=\"i\"><inspect><object>*</object></inspect></function>", false,
                    false, "t1", {}, &raw);
    REQUIRE(i.results.at(0).status == "success");
    CHECK_THAT(raw, Catch::Contains("typename=\"ITEMWAREHOUSEINFO\""));
    auto bad = g.post("<function controlid=\"l\"><lookup><object>NOPE</object></lookup></function>");
    CHECK(bad.results.at(0).status == "failure");
}

TEST_CASE("sandbox: a request the official XSD refuses is a control failure XL03000003",
          "[intacct][sandbox][contract]") {
    // developer.intacct.com "Error handling": XL03000003 for a request that does not conform.
    World w;
    Gateway g{w};
    g.login();
    // The defect of issue 9: <currency> directly followed by <sotransitems>.
    std::string so =
        "<function controlid=\"s\"><create_sotransaction><transactiontype>Sales Order</transactiontype>"
        "<datecreated><year>2024</year><month>5</month><day>2</day></datecreated><customerid>C-00003"
        "</customerid><currency>EUR</currency><sotransitems><sotransitem><itemid>I-1001</itemid>"
        "<quantity>1</quantity></sotransitem></sotransitems></create_sotransaction></function>";
    auto r = g.post(so);
    CHECK_FALSE(r.control_ok);
    REQUIRE(!r.control_errors.empty());
    CHECK(r.control_errors[0].errorno == "XL03000003");
    CHECK_THAT(ix::join_errors(r.control_errors), Catch::Contains("sotransitems"));
    CHECK(w.control().count("SODOCUMENT") == 0);
    CHECK(w.control().schema_rejections() == 1);
    // With the exchange rate type, as the connector sends it now: valid, and created.
    std::string fixed = so;
    fixed.replace(fixed.find("</currency>") + 11, 0, "<exchratetype>Intacct Daily Rate</exchratetype>");
    auto ok = g.post(fixed);
    REQUIRE(ok.control_ok);
    CHECK(ok.results.at(0).status == "success");
    // The fixture's end-of-test check must not count the deliberate rejection.
    auto requests = w.control().captured_requests();
    w.control().capture_requests(false);
    w.expected_schema_rejections = 1;
    CHECK(requests.size() == 3);
    CHECK(validate_against_xsd({requests[0], requests[2]}) == 2);
}
