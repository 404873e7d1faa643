// The helpdesk connector library: the class (helpdesk_connector.hpp), exported.
#include "helpdesk_connector.hpp"

PLEXUS_EXPORT_CONNECTOR(helpdesk::HelpdeskConnector)
