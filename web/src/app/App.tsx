/**
 * The app: sign-in gate, layout, and the page for the current path (routes.tsx). Pages load
 * lazily under <Suspense>; a page that throws shows an error box instead of a blank screen.
 */
import type { ErrorInfo, ReactNode } from 'react';
import { Component, Suspense, useEffect } from 'react';
import { SignInPage } from '../pages/signin/SignInPage';
import { AuthProvider, useAuth } from './auth';
import { Layout } from './Layout';
import { matchPath, useLocation } from './router';
import { ROUTES } from './routes';
import { READERS, allows } from './scopes';

class PageErrorBoundary extends Component<
  { children: ReactNode; resetKey: string },
  { error: Error | null }
> {
  override state: { error: Error | null } = { error: null };

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  override componentDidUpdate(previous: { resetKey: string }) {
    if (previous.resetKey !== this.props.resetKey && this.state.error !== null) {
      this.setState({ error: null });
    }
  }

  override componentDidCatch(error: Error, info: ErrorInfo) {
    console.error('page failed', error, info.componentStack);
  }

  override render() {
    if (this.state.error !== null) {
      return (
        <div className="error-banner" role="alert">
          <strong>This page failed:</strong> {this.state.error.message}
        </div>
      );
    }
    return this.props.children;
  }
}

function CurrentPage() {
  const { pathname } = useLocation();
  const { scope } = useAuth();
  for (const route of ROUTES) {
    const params = matchPath(route.path, pathname);
    if (params === null) continue;
    if (!allows(scope, route.scopes ?? READERS)) {
      return (
        <p role="alert">
          Your token&apos;s scope ({scope}) may not open {route.title}.
        </p>
      );
    }
    const Page = route.component;
    return (
      <PageErrorBoundary resetKey={pathname}>
        <DocumentTitle title={route.title} />
        <Suspense fallback={<p className="loading">Loading {route.title}…</p>}>
          <Page params={params} />
        </Suspense>
      </PageErrorBoundary>
    );
  }
  return (
    <>
      <DocumentTitle title="Not found" />
      <h1>Not found</h1>
      <p>No page at {pathname}.</p>
    </>
  );
}

function DocumentTitle({ title }: { title: string }) {
  useEffect(() => {
    document.title = `${title} · VisionLoop`;
  }, [title]);
  return null;
}

function Gate() {
  const { state } = useAuth();
  if (state.status === 'checking') return <p className="loading">Checking your token…</p>;
  if (state.status === 'signed-out') return <SignInPage notice={state.notice} />;
  return (
    <Layout>
      <CurrentPage />
    </Layout>
  );
}

export function App() {
  return (
    <AuthProvider>
      <Gate />
    </AuthProvider>
  );
}
