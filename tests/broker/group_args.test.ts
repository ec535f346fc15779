/**
 * How output groups are spelled on the command line: `-i eth2,eth3` balances, `--all` or a repeated
 * `-i` replicates, and every mix that means nothing is refused with one line.
 */
import { assertEquals, assertThrows } from "../assert.ts";
import { parseCommandLine } from "../../lib/settings/mod.ts";
import { UsageError } from "../../lib/errors.ts";

function sinkOf(argv: string[]) {
  const s = parseCommandLine(argv);
  if (s.mode !== "tx") throw new Error(`not -tx: ${s.mode}`);
  return s.sink;
}

Deno.test("group args: -i a,b balances flows; --all and repeated -i replicate", () => {
  const bal = sinkOf(["-tx", "-i", "a,b", "r"]);
  assertEquals(bal.kind === "group" && [bal.all, bal.balance, bal.members.length], [false, "flows", 2]);
  const all = sinkOf(["-tx", "-i", "a,b", "--all", "r"]);
  assertEquals(all.kind === "group" && all.all, true);
  const rep = sinkOf(["-tx", "-i", "a", "-i", "b", "-i", "c", "r"]);
  assertEquals(rep.kind === "group" && [rep.all, rep.members.length, rep.name], [true, 3, "a,b,c"]);
  assertEquals(sinkOf(["-tx", "-i", "a", "r"]).kind, "nic");
});

Deno.test("group args: meaningless mixes are refused with one line naming the options", () => {
  const cases: [string[], RegExp][] = [
    [["-rx", "-i", "a", "-i", "b", "r"], /-i given 2 times \("a", "b"\): -rx uses one interface/],
    [["-tx", "-i", "a", "-i", "b", "--balance", "flows", "r"], /--balance does not apply/],
    [["-tx", "-i", "a,b", "-i", "c", "r"], /-i "a,b" is a group/],
    [["-tx", "-i", "a", "-i", "a", "r"], /"a" given twice/],
    [["-tx", "-i", "a", "-i", "", "r"], /Invalid interface name ""/],
    [["-tx", "-i", "a", "--all", "r"], /--all applies to output groups/],
    [["-tx", "-i", "a,b", "--all", "--balance", "addresses", "r"], /--balance does not apply with it/],
  ];
  for (const [argv, re] of cases) {
    let message = "";
    assertThrows(() => {
      try {
        parseCommandLine(argv);
      } catch (e) {
        message = (e as Error).message;
        throw e;
      }
    }, UsageError);
    assertEquals(re.test(message), true, `${argv.join(" ")}: ${message}`);
    assertEquals(message.includes("\n"), false, "one line");
  }
});
