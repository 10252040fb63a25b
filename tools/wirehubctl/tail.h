// `wirehubctl tail`: follow one channel as a WebSocket client of
// wirehub-edge and print its publications.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_TAIL_H_
#define WIREHUB_TOOLS_WIREHUBCTL_TAIL_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "tools/wirehubctl/client_stream.h"
#include "tools/wirehubctl/ws_url.h"

namespace wirehub::ctl {

// TailOptions say where to connect, what to subscribe to and when to stop.
struct TailOptions {
  WebSocketUrl url;
  // For a wss:// url: the CA file and the name the edge's certificate must
  // hold.
  TlsClientOptions tls;
  // Connection token (sent as connect.token).
  std::string token;
  std::string channel;
  // Subscription token (sent as subscribe.token); empty sends none.
  std::string sub_token;
  // Subscribe with recover: true from this position.
  bool recover = false;
  std::string epoch;
  uint64_t offset = 0;
  // Stop (successfully) after this many publications; 0 never stops.
  uint64_t count = 0;
  // Overall time limit from the start; infinite by default.
  absl::Duration timeout = absl::InfiniteDuration();
  // Prefix each line with the publication's offset ("-" when it has none).
  bool print_offsets = false;
  // Limit for connecting, the connect reply and the subscribe reply.
  absl::Duration setup_timeout = absl::Seconds(15);
};

// TailChannel()
//
// Connects, sends connect and then subscribe, answers the server's pings and
// writes one line per publication on `options.channel` to `out` as it
// arrives (flushed per line): the `data` JSON as received, except that line
// breaks in it (JSON whitespace) are printed as spaces. Publications
// recovered in the subscribe reply come first. Notes (a position that could
// not be recovered) go to `err`.
//
// Connection failures are reported as "error: connect: ..." (or "error:
// connect to HOST:PORT: ..."), for example
//   error: connect: cannot resolve 'edge.example': Name or service not known
//   error: connect: TLS handshake with edge.example:443 failed: certificate
//     verify failed (unable to get local issuer certificate)
//
// Returns OK once `count` publications were printed, or, without a count,
// when the timeout ends a tail that printed at least one. Otherwise the
// status message is the complete line to show the user, for example
//   error: subscribe: 102 unknown channel
//   closed: 3500 invalid token            (a close frame or disconnect push)
//   unsubscribed: 2000 server unsubscribe (an unsubscribe push)
//   error: timed out after 2s with 1 of 3 publication(s)
absl::Status TailChannel(const TailOptions& options, std::ostream& out, std::ostream& err);

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_TAIL_H_
