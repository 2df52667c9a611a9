// This package's README's Next.js examples must be the files tsc checks: fails when they drift apart.
import { readFileSync } from "node:fs";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf-8");
const section = readme.slice(readme.indexOf("## From a Next.js front end"));
const blocks = [...section.matchAll(/```tsx\n([\s\S]*?)```\n/g)].map((match) => match[1]);
const files = ["examples/nextjs/app/tasks/page.tsx", "examples/nextjs/app/tasks/add-task.tsx"];
let failed = false;
files.forEach((file, index) => {
  if (readFileSync(new URL(`../${file}`, import.meta.url), "utf-8") !== blocks[index]) {
    console.error(`clients/typescript/README.md's Next.js example ${index + 1} differs from clients/typescript/${file}`);
    failed = true;
  }
});
process.exit(failed ? 1 : 0);
