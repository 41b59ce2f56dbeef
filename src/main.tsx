import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import outputs from 'virtual:parley-outputs';
import { App } from './App';
import { setupAmplify } from './config';
import './styles.css';

const root = createRoot(document.getElementById('root')!);
try {
  const config = setupAmplify(outputs);
  root.render(
    <StrictMode>
      <App config={config} />
    </StrictMode>,
  );
} catch (err) {
  root.render(
    <main className="auth">
      <div className="auth-card">
        <h1>Parley cannot start</h1>
        <p className="form-error" role="alert">
          {err instanceof Error ? err.message : String(err)}
        </p>
      </div>
    </main>,
  );
}
