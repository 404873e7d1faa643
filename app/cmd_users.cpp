#include "app/cli.hpp"

#include "common/clock.hpp"
#include "common/time_text.hpp"
#include "web/auth.hpp"

#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

namespace plexus::cli {
namespace {

// One line from stdin; without echo when stdin is a terminal.
std::string read_secret_line(const char* prompt) {
    const bool tty = isatty(STDIN_FILENO);
    termios old{};
    if (tty) {
        std::cerr << prompt << std::flush;
        tcgetattr(STDIN_FILENO, &old);
        termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    std::string line;
    std::getline(std::cin, line);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSANOW, &old);
        std::cerr << "\n";
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

// The new password: $PLEXUS_PASSWORD, else stdin (asked twice on a terminal).
std::string new_password() {
    if (const char* p = std::getenv("PLEXUS_PASSWORD"); p && *p) return p;
    std::string a = read_secret_line("password: ");
    if (isatty(STDIN_FILENO)) {
        std::string b = read_secret_line("again: ");
        if (a != b) throw std::runtime_error("the two passwords differ; nothing changed");
    }
    return a;
}

}  // namespace

// plexus users add NAME --role ROLE | list | delete NAME | password NAME | role NAME --role R
int cmd_users(const std::vector<std::string>& args) {
    Common c;
    std::string action, name, role;
    po::options_description opts("options");
    add_common(opts, c, false, true, false);
    opts.add_options()("role,r", po::value(&role), "support, operator or admin")(
        "action", po::value(&action), "add, list, delete, password or role")(
        "name", po::value(&name), "user name");
    po::positional_options_description pos;
    pos.add("action", 1).add("name", 1);
    po::variables_map vm;
    if (!parse("users",
               "add NAME --role ROLE | list | delete NAME | password NAME | role NAME --role ROLE\n\n"
               "Portal users. The password of add and password comes from $PLEXUS_PASSWORD, or\n"
               "from standard input (asked twice, without echo, on a terminal). Roles are\n"
               "cumulative: support (read, export) < operator (+ run, enable, schedule, replay,\n"
               "rewind) < admin (+ users, connection tests).",
               opts, pos, args, vm))
        return ok;
    if (action.empty()) throw po::error("say what to do: add, list, delete, password or role");
    auto store = open_store(c);
    const int64_t now = SystemClock::instance().now_ms();
    const std::string actor = cli_actor();

    if (action == "list") {
        for (const auto& u : store->users())
            std::cout << u.name << "\t" << u.role << "\tcreated " << iso_utc(u.created_ms) << "\n";
        return ok;
    }
    if (name.empty()) throw po::error("plexus users " + action + " needs a user NAME");
    if (action == "add") {
        if (!web::valid_user_name(name))
            throw po::error("user name \"" + name + "\": use 1 to 64 of A-Z a-z 0-9 . _ @ -");
        if (!web::valid_role(role))
            throw po::error("--role \"" + role + "\" is none of support, operator, admin");
        if (store->user(name)) {
            std::cerr << "plexus users: a user \"" << name << "\" exists already\n";
            return run_failed;
        }
        const std::string password = new_password();
        if (auto p = web::password_problem(password); !p.empty()) {
            std::cerr << "plexus users: " << p << "\n";
            return run_failed;
        }
        User u;
        u.name = name;
        u.role = role;
        u.password_hash = web::hash_password(password);
        if (!store->add_user(u, actor, now)) {
            std::cerr << "plexus users: a user \"" << name << "\" exists already\n";
            return run_failed;
        }
        std::cout << "added " << name << " (" << role << ")\n";
        return ok;
    }
    if (action == "delete") {
        if (!store->delete_user(name, actor, now)) {
            std::cerr << "plexus users: no user \"" << name << "\"\n";
            return run_failed;
        }
        std::cout << "deleted " << name << "\n";
        return ok;
    }
    if (action == "password" || action == "role") {
        if (!store->user(name)) {
            std::cerr << "plexus users: no user \"" << name << "\"\n";
            return run_failed;
        }
        std::optional<std::string> new_role, hash;
        if (action == "role") {
            if (!web::valid_role(role))
                throw po::error("--role \"" + role + "\" is none of support, operator, admin");
            new_role = role;
        } else {
            const std::string password = new_password();
            if (auto p = web::password_problem(password); !p.empty()) {
                std::cerr << "plexus users: " << p << "\n";
                return run_failed;
            }
            hash = web::hash_password(password);
        }
        store->update_user(name, new_role, hash, actor, now);
        std::cout << "updated " << name << "\n";
        return ok;
    }
    throw po::error("unknown action \"" + action + "\"; use add, list, delete, password or role");
}

}  // namespace plexus::cli
